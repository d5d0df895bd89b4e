// AdamW with decoupled weight decay (Loshchilov & Hutter), on flat Float32Arrays.
// The update runs in plain JavaScript on the all-reduced gradients rather than in the tensor
// engine: every replica then performs the same float32 operations in the same order on the same
// bits, so replicas stay bit-identical whatever backend computes the forward pass, and the state is
// trivially serialisable for exact resume.

export interface AdamWOptions {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export const ADAMW_DEFAULTS: AdamWOptions = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };

export interface AdamWState {
  /** Optimizer steps taken (bias correction uses it). */
  t: number;
  m: Float32Array;
  v: Float32Array;
}

export function newAdamWState(size: number): AdamWState {
  return { t: 0, m: new Float32Array(size), v: new Float32Array(size) };
}

/**
 * One AdamW step in place on `params`. `decayMask[i] === 1` applies weight decay to element i
 * (biases and norms are commonly excluded; LoRA matrices and head weights are decayed).
 */
export function adamwStep(
  params: Float32Array,
  grads: Float32Array,
  state: AdamWState,
  lr: number,
  o: AdamWOptions,
  decayMask?: Uint8Array,
): void {
  if (params.length !== grads.length || params.length !== state.m.length) {
    throw new Error(
      `adamw: size mismatch params=${params.length} grads=${grads.length} state=${state.m.length}`,
    );
  }
  state.t += 1;
  const bc1 = 1 - Math.pow(o.beta1, state.t);
  const bc2 = 1 - Math.pow(o.beta2, state.t);
  const stepSize = lr / bc1;
  const { m, v } = state;
  for (let i = 0; i < params.length; i++) {
    const g = grads[i];
    m[i] = o.beta1 * m[i] + (1 - o.beta1) * g;
    v[i] = o.beta2 * v[i] + (1 - o.beta2) * g * g;
    let p = params[i];
    if (o.weightDecay !== 0 && (decayMask === undefined || decayMask[i] === 1)) p -= lr * o.weightDecay * p;
    params[i] = p - (stepSize * m[i]) / (Math.sqrt(v[i] / bc2) + o.eps);
  }
}

/** Global L2 norm of a gradient vector, accumulated in float64. */
export function globalNorm(grads: Float32Array): number {
  let s = 0;
  for (let i = 0; i < grads.length; i++) s += grads[i] * grads[i];
  return Math.sqrt(s);
}

/** Scales `grads` in place so its global norm is at most `maxNorm` (0 = no clipping); returns the norm before. */
export function clipByGlobalNorm(grads: Float32Array, maxNorm: number): number {
  const norm = globalNorm(grads);
  if (maxNorm > 0 && norm > maxNorm) {
    const scale = maxNorm / (norm + 1e-6);
    for (let i = 0; i < grads.length; i++) grads[i] *= scale;
  }
  return norm;
}

export function allFinite(x: Float32Array): boolean {
  for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i])) return false;
  return true;
}
