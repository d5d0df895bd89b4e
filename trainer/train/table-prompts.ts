// Prompts that carry a findings table (task.findingsTable: prompt). The table sits after the image
// tokens and the instruction, so the image positions the head pools over never see it (the decoder
// is causal): the head's prediction for an image is the same with or without a table, which is what
// lets the trainer ask the head for a table first and then build the prompt from it.
//
// Every training sequence keeps one length: the table's tokens vary, so the sequence is the longest
// possible prompt + the report budget + the end token, and the report starts right after the table.

import { buildPrompt, type Tokenizer } from "../model/index.js";
import { longestTables, renderTableText, type FindingsTable } from "../findings/index.js";

/** Spare tokens over the longest table, for subword tokenizers that split a real table differently. */
const SLACK = 16;

export class TablePrompts {
  /** The longest prompt any table can give (tokens). */
  readonly maxLength: number;

  constructor(
    private readonly tok: Tokenizer,
    private readonly numImageTokens: number,
  ) {
    const longest = Math.max(...longestTables().map((t) => this.build(renderTableText(t)).length));
    this.maxLength = longest + SLACK;
  }

  private build(tableText: string): number[] {
    return buildPrompt(this.tok, { numImageTokens: this.numImageTokens, findingsTable: tableText });
  }

  /** The prompt with this table; its length never exceeds maxLength. */
  prompt(table: FindingsTable): number[] {
    const ids = this.build(renderTableText(table));
    if (ids.length > this.maxLength) {
      throw new Error(
        `findings table prompt has ${ids.length} tokens, more than the ${this.maxLength} budgeted: the tokenizer splits "${renderTableText(table)}" unusually`,
      );
    }
    return ids;
  }
}

/** Special tokens a prompt may hold, shown by name (decode() drops special tokens). */
const MARKERS = ["<bos>", "<unk>", "<table>", "</table>", "<|im_start|>", "<|im_end|>"];

/**
 * A prompt's text for people: the image tokens collapsed to one marker with their count
 * ("<image>×N") and the special markers named, so predictions.jsonl shows what the model was asked.
 */
export function describePrompt(tok: Tokenizer, ids: readonly number[]): string {
  const names = new Map<number, string>([[tok.imageTokenId, "<image>"]]);
  for (const m of MARKERS) {
    try {
      names.set(tok.tokenId(m), m);
    } catch {
      // not in this vocabulary
    }
  }
  const out: string[] = [];
  let text: number[] = [];
  const flush = () => {
    const t = tok.decode(text).trim();
    if (t) out.push(t);
    text = [];
  };
  for (let i = 0; i < ids.length;) {
    const name = names.get(ids[i]);
    if (name === undefined) {
      text.push(ids[i++]);
      continue;
    }
    flush();
    let j = i;
    while (j < ids.length && ids[j] === ids[i]) j++;
    out.push(j - i > 1 ? `${name}×${j - i}` : name);
    i = j;
  }
  flush();
  return out.join(" ");
}
