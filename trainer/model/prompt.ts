// The prompt format, in one place. Training appends the report's tokens and eos to this prefix;
// generation continues from it.
//   word-level (tiny preset): <bos> <image>×N  instruction  [<table> findings </table>]
//   Qwen2 chat (real checkpoints), as llava-hf's LLaVA-OneVision chat template writes one image
//   and a user turn: <|im_start|>user <image>×N\ninstruction[\nfindings]<|im_end|><|im_start|>assistant\n
//   The text between special tokens is encoded in one piece, as a tokenizer given the whole
//   string would (Qwen2's pre-tokenizer joins "." and a following newline, for one).
import type { Tokenizer } from "./tokenizer.js";

export const DEFAULT_INSTRUCTION = "Write the findings and impression of this chest X-ray.";

export interface PromptOptions {
  numImageTokens: number;
  instruction?: string;
  /** A findings table (see trainer/findings) to condition the report on. */
  findingsTable?: string;
}

function hasToken(tok: Tokenizer, t: string): boolean {
  try {
    tok.tokenId(t);
    return true;
  } catch {
    return false;
  }
}

export function buildPrompt(tok: Tokenizer, o: PromptOptions): number[] {
  const image = new Array<number>(o.numImageTokens).fill(tok.imageTokenId);
  const instructionText = o.instruction ?? DEFAULT_INSTRUCTION;
  if (hasToken(tok, "<|im_start|>")) {
    const start = tok.tokenId("<|im_start|>");
    const end = tok.tokenId("<|im_end|>");
    const text = `\n${instructionText}${o.findingsTable ? `\n${o.findingsTable}` : ""}`;
    return [
      start,
      ...tok.encode("user "),
      ...image,
      ...tok.encode(text),
      end,
      start,
      ...tok.encode("assistant\n"),
    ];
  }
  const instruction = tok.encode(instructionText);
  const table = o.findingsTable
    ? [tok.tokenId("<table>"), ...tok.encode(o.findingsTable), tok.tokenId("</table>")]
    : [];
  return [tok.bosId, ...image, ...instruction, ...table];
}
