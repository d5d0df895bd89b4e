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
