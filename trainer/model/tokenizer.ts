// The tiny preset's tokenizer: a word-level vocabulary over the report corpus, stored as a Hugging
// Face tokenizer.json (model type WordLevel, a Lowercase normalizer and a pre-tokenizer that splits
// words from punctuation), so `tokenizers.Tokenizer.from_file` reads the same file. Every tokenizer.json,
// the tiny one or a real checkpoint's BPE one, is read through @huggingface/tokenizers.
import { readFile } from "node:fs/promises";
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";

export const SPECIAL_TOKENS = ["<pad>", "<unk>", "<eos>", "<image>", "<bos>", "<table>", "</table>"] as const;

export interface Tokenizer {
  encode(text: string): number[];
  decode(ids: number[]): string;
  readonly vocabSize: number;
  readonly padId: number;
  readonly eosId: number;
  readonly bosId: number;
  readonly unkId: number;
  readonly imageTokenId: number;
  tokenId(token: string): number;
}

export interface TokenizerJson {
  version: string;
  added_tokens: Array<{
    id: number;
    content: string;
    special: boolean;
    single_word: boolean;
    lstrip: boolean;
    rstrip: boolean;
    normalized: boolean;
  }>;
  normalizer: { type: "Lowercase" };
  pre_tokenizer: { type: "Whitespace" };
  model: { type: "WordLevel"; vocab: Record<string, number>; unk_token: string };
  decoder: null;
  post_processor: null;
  truncation: null;
  padding: null;
}

/** The Whitespace pre-tokenizer's split (`\\w+|[^\\w\\s]+`), to count words when building the vocabulary. */
const WORD_RE = /\w+|[^\w\s]+/g;

export function pretokenize(text: string): string[] {
  return text.toLowerCase().match(WORD_RE) ?? [];
}

/** Builds a tokenizer.json whose vocabulary is every word seen at least `minCount` times. */
export function buildWordLevelTokenizer(
  texts: string[],
  opts: { minCount?: number; extraWords?: string[] } = {},
): TokenizerJson {
  const counts = new Map<string, number>();
  for (const t of texts) for (const w of pretokenize(t)) counts.set(w, (counts.get(w) ?? 0) + 1);
  for (const w of opts.extraWords ?? [])
    for (const p of pretokenize(w)) counts.set(p, Math.max(counts.get(p) ?? 0, opts.minCount ?? 1));
  const words = [...counts.entries()]
    .filter(([, c]) => c >= (opts.minCount ?? 1))
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .map(([w]) => w);
  const vocab: Record<string, number> = {};
  SPECIAL_TOKENS.forEach((t, i) => (vocab[t] = i));
  for (const w of words) if (!(w in vocab)) vocab[w] = Object.keys(vocab).length;
  return {
    version: "1.0",
    added_tokens: SPECIAL_TOKENS.map((content, id) => ({
      id,
      content,
      special: true,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
    })),
    normalizer: { type: "Lowercase" },
    pre_tokenizer: { type: "Whitespace" },
    model: { type: "WordLevel", vocab, unk_token: "<unk>" },
    decoder: null,
    post_processor: null,
    truncation: null,
    padding: null,
  };
}

const NO_SPACE_BEFORE = new Set([".", ",", ":", ";", "?", "!", ")", "%"]);

/** Names of the special tokens a checkpoint's tokenizer uses (Qwen2 / LLaVA-OneVision defaults). */
export interface SpecialTokenNames {
  pad: string;
  eos: string;
  image: string;
}

const WORD_LEVEL_NAMES: SpecialTokenNames = { pad: "<pad>", eos: "<eos>", image: "<image>" };
const QWEN_NAMES: SpecialTokenNames = { pad: "<|endoftext|>", eos: "<|im_end|>", image: "<image>" };

/** Wraps a tokenizer.json (any model type @huggingface/tokenizers reads) in radfleet's Tokenizer. */
export function tokenizerFromJson(json: object, source = "tokenizer.json", config: object = {}): Tokenizer {
  const hf = new HfTokenizer(json, config);
  const wordLevel = (json as { model?: { type?: string } }).model?.type === "WordLevel";
  const names = wordLevel ? WORD_LEVEL_NAMES : QWEN_NAMES;
  const vocab = hf.get_vocab(true);
  const need = (t: string) => {
    const id = vocab.get(t);
    if (id === undefined)
      throw new Error(
        `${source}: vocabulary lacks the special token ${t}; add it to the tokenizer's added_tokens`,
      );
    return id;
  };
  const inverse: string[] = [];
  for (const [w, id] of vocab) inverse[id] = w;
  const unkId = wordLevel ? need("<unk>") : -1;
  const specials = new Set(
    ((json as { added_tokens?: Array<{ id: number; special: boolean }> }).added_tokens ?? [])
      .filter((t) => t.special)
      .map((t) => t.id),
  );
  const padId = need(names.pad);
  return {
    vocabSize: inverse.length,
    padId,
    eosId: need(names.eos),
    bosId: wordLevel ? need("<bos>") : padId,
    unkId,
    imageTokenId: need(names.image),
    tokenId: (t) => {
      const id = vocab.get(t);
      if (id === undefined) throw new Error(`${source}: no token ${JSON.stringify(t)}`);
      return id;
    },
    encode(text) {
      // tokenizers.js leaves out-of-vocabulary words of a WordLevel model undefined; map them to <unk>.
      return hf
        .encode(text, { add_special_tokens: false })
        .ids.map((id: number | undefined) => (id === undefined ? unkId : Number(id)));
    },
    decode(ids) {
      if (!wordLevel) return hf.decode(ids, { skip_special_tokens: true });
      let out = "";
      for (const id of ids) {
        if (specials.has(id)) continue;
        const w = inverse[id] ?? "<unk>";
        out += out === "" || NO_SPACE_BEFORE.has(w) ? w : ` ${w}`;
      }
      return out;
    },
  };
}

export async function loadTokenizer(path: string): Promise<Tokenizer> {
  return tokenizerFromJson(JSON.parse(await readFile(path, "utf8")) as object, path);
}
