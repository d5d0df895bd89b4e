// Small file-system helpers shared by the model, QLoRA and checkpoint code.
import { stat } from "node:fs/promises";

/** Whether something exists at `path` (a file or a directory). */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
