import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import { buildPrompt, buildWordLevelTokenizer, tokenizerFromJson } from "../../trainer/model/index.js";

const CORPUS = ["The heart size is normal.", "No pleural effusion, no pneumothorax.", "Mild cardiomegaly."];

describe("word-level tokenizer", () => {
  it("is a tokenizer.json that @huggingface/tokenizers reads, with the same ids as radfleet's wrapper", () => {
    const json = buildWordLevelTokenizer(CORPUS);
    const hf = new HfTokenizer(json, {});
    const tok = tokenizerFromJson(json);
    const ids = tok.encode("No pleural effusion.");
    expect(ids).toEqual(hf.encode("No pleural effusion.", { add_special_tokens: false }).ids);
    expect(tok.decode(ids)).toBe("no pleural effusion.");
    expect(tok.encode("spiculated")).toEqual([tok.unkId]);
    expect(tok.decode([tok.bosId, ...tok.encode("mild cardiomegaly ."), tok.eosId])).toBe(
      "mild cardiomegaly.",
    );
  });

  it("builds the prompt in one format: bos, image tokens, instruction, optional findings table", () => {
    const tok = tokenizerFromJson(buildWordLevelTokenizer([...CORPUS, "findings table effusion present"]));
    const p = buildPrompt(tok, {
      numImageTokens: 5,
      instruction: "findings",
      findingsTable: "effusion present",
    });
    expect(p).toEqual([
      tok.bosId,
      ...new Array(5).fill(tok.imageTokenId),
      ...tok.encode("findings"),
      tok.tokenId("<table>"),
      ...tok.encode("effusion present"),
      tok.tokenId("</table>"),
    ]);
  });
});

describe("Qwen2-style byte-level BPE (real checkpoints)", () => {
  // A small BPE with Qwen2's pre-tokenizer and special tokens, and the ids Hugging Face tokenizers
  // gives the llava-hf chat prompt (tests/reference/model/make_qwen_style_tokenizer.py).
  const dir = new URL("../fixtures/model/qwen-style-tokenizer/", import.meta.url);
  const json = JSON.parse(readFileSync(new URL("tokenizer.json", dir), "utf8")) as object;
  const expected = JSON.parse(readFileSync(new URL("expected.json", dir), "utf8")) as {
    cases: {
      numImageTokens: number;
      instruction: string;
      findingsTable: string | null;
      prompt: string;
      ids: number[];
    }[];
  };

  it("builds the chat prompt with the ids the reference tokenizer gives the template's text", () => {
    const tok = tokenizerFromJson(json);
    expect(tok.eosId).toBe(tok.tokenId("<|im_end|>"));
    expect(tok.padId).toBe(tok.tokenId("<|endoftext|>"));
    for (const c of expected.cases) {
      const ids = buildPrompt(tok, {
        numImageTokens: c.numImageTokens,
        instruction: c.instruction,
        findingsTable: c.findingsTable ?? undefined,
      });
      expect(ids).toEqual(c.ids);
      expect(ids.filter((id) => id === tok.imageTokenId)).toHaveLength(c.numImageTokens);
    }
    // Byte-level BPE decodes back to the text, newlines and spaces included.
    const report = "Mild cardiomegaly with a small left effusion.\nIMPRESSION: no acute process.";
    expect(tok.decode(tok.encode(report))).toBe(report);
  });
});
