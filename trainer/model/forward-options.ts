// What every module's forward takes besides its input.
export interface ForwardOptions {
  training: boolean;
  /**
   * The step's dropout seed. Each adapter mixes it with its own module path, so a layer's mask
   * depends on the seed and its name only, not on which layers ran before it.
   */
  dropoutSeed?: number;
}
