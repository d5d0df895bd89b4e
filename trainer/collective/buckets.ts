// Fusion buckets: many small gradient tensors are packed into one contiguous buffer per bucket, so
// one all-reduce pays the ring's per-step latency for all of them. A tensor larger than a bucket
// is reduced on its own, in place.

export type Bucket =
  { kind: "fused"; tensors: Float32Array[]; elems: number } | { kind: "alone"; tensor: Float32Array };

/** Groups tensors in order into buckets of at most `bucketBytes`. Deterministic, so ranks agree. */
export function planBuckets(tensors: Float32Array[], bucketBytes: number): Bucket[] {
  const cap = Math.max(1, Math.floor(bucketBytes / 4));
  const out: Bucket[] = [];
  let cur: Float32Array[] = [];
  let elems = 0;
  const flush = (): void => {
    if (cur.length > 0) out.push({ kind: "fused", tensors: cur, elems });
    cur = [];
    elems = 0;
  };
  for (const t of tensors) {
    if (t.length >= cap) {
      flush();
      out.push({ kind: "alone", tensor: t });
      continue;
    }
    if (elems + t.length > cap) flush();
    cur.push(t);
    elems += t.length;
  }
  flush();
  return out;
}

export function pack(b: { tensors: Float32Array[]; elems: number }): Float32Array {
  const buf = new Float32Array(b.elems); // [sum of tensor lengths]
  let off = 0;
  for (const t of b.tensors) {
    buf.set(t, off);
    off += t.length;
  }
  return buf;
}

export function unpack(buf: Float32Array, tensors: Float32Array[]): void {
  let off = 0;
  for (const t of tensors) {
    t.set(buf.subarray(off, off + t.length));
    off += t.length;
  }
}

/**
 * A flat buffer (the trainer's gradients, already fused) cut into views of at most `bucketBytes`,
 * for allReduceMany: each bucket is reduced in place, so no single operation, and none of its wire
 * buffers, grows with the model.
 */
export function bucketViews(buf: Float32Array, bucketBytes: number): Float32Array[] {
  const cap = Math.max(1, Math.floor(bucketBytes / 4));
  const out: Float32Array[] = [];
  for (let off = 0; off < buf.length; off += cap)
    out.push(buf.subarray(off, Math.min(off + cap, buf.length)));
  return out;
}
