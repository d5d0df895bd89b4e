// The prompt format, in one place. Training appends the report's tokens and eos to this prefix;
// generation continues from it.
//   word-level (tiny preset): <bos> <image>×N  instruction  [<table> findings </table>]
//   Qwen2 chat (real checkpoints): <|im_start|>user\n<image>×N\ninstruction[\nfindings]<|im_end|>\n<|im_start|>assistant\n
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
  const instruction = tok.encode(o.instruction ?? DEFAULT_INSTRUCTION);
  if (hasToken(tok, "<|im_start|>")) {
    const start = tok.tokenId("<|im_start|>");
    const end = tok.tokenId("<|im_end|>");
    const table = o.findingsTable ? tok.encode(`\n${o.findingsTable}`) : [];
    return [
      start,
      ...tok.encode("user\n"),
      ...image,
      ...tok.encode("\n"),
      ...instruction,
      ...table,
      end,
      ...tok.encode("\n"),
      start,
      ...tok.encode("assistant\n"),
    ];
  }
  const table = o.findingsTable
    ? [tok.tokenId("<table>"), ...tok.encode(o.findingsTable), tok.tokenId("</table>")]
    : [];
  return [tok.bosId, ...image, ...instruction, ...table];
}
