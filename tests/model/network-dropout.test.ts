// Dropout masks come from the step's seed and each adapter's module path, so a layer draws the same
// mask whatever ran before it: the decoder alone draws what it draws inside a full forward.
import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { buildModel, buildPrompt } from "../../trainer/model/index.js";

describe("dropout seeds in the network", () => {
  it("a decoder pass draws the same masks whether or not the vision tower's adapters ran first", async () => {
    await tf.setBackend("cpu");
    const m = await buildModel({
      preset: "tiny",
      quantization: { type: "none", blockSize: 64, doubleQuant: false },
      lora: {
        r: 4,
        alpha: 8,
        dropout: 0.3,
        rslora: false,
        targetModules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
      },
      head: { pooling: "image_tokens" },
      seed: 2,
      imageSize: 32,
      corpus: ["no acute findings ."],
    });
    const net = m.network;
    for (const l of net.loraLayers()) l.loraB!.assign(tf.randomNormal(l.loraB!.shape, 0, 0.5, "float32", 4));
    const ids = [
      ...buildPrompt(m.tokenizer, { numImageTokens: m.numImageTokens }),
      ...m.tokenizer.encode("no acute findings ."),
    ];
    const inputIds = tf.tensor2d(ids, [1, ids.length], "int32");
    const pixels = tf.randomNormal([1, 32, 32, 3], 0, 1, "float32", 5) as tf.Tensor4D;
    const x = net.embed(inputIds, net.imageEmbeds(pixels, { training: false })); // [1, T, D]
    const decode = (seed: number) =>
      Array.from(net.decode(x, 0, { training: true, dropoutSeed: seed }).dataSync());

    const alone = decode(5);
    net.imageEmbeds(pixels, { training: true, dropoutSeed: 5 }); // the tower's and projector's adapters draw first
    const afterTower = decode(5);
    expect(afterTower).toEqual(alone);
    expect(decode(6)).not.toEqual(alone); // dropout is on: another seed, other masks
    expect(Array.from(net.decode(x, 0, { training: false }).dataSync())).not.toEqual(alone);
    m.dispose();
  });
});
