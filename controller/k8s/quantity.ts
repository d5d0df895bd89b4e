// Kubernetes resource quantities ("500m", "1.5Gi", "2") multiplied by a replica count, exactly:
// the number part is scaled as a decimal integer, so 0.1 x 3 is "0.3", not 0.30000000000000004.

const QUANTITY = /^([+-]?)(\d*)(?:\.(\d*))?([eE][+-]?\d+|[numkKMGTP]i?|Ki|)$/;

/** `q` times the integer `n`, in the same suffix; throws on what is not a quantity. */
export function scaleQuantity(q: string, n: number): string {
  const m = QUANTITY.exec(q.trim());
  if (!m || (m[2] === "" && (m[3] ?? "") === "") || !Number.isInteger(n) || n < 0) {
    throw new Error(
      `resource quantity ${JSON.stringify(q)} x ${n}: expected a quantity such as 2, 500m or 4Gi`,
    );
  }
  const [, sign, whole, frac = "", suffix] = m;
  const digits = BigInt(`${whole || "0"}${frac}`) * BigInt(n);
  let text = digits.toString().padStart(frac.length + 1, "0");
  if (frac.length > 0) {
    text = `${text.slice(0, -frac.length)}.${text.slice(-frac.length)}`.replace(/\.?0+$/, "");
  }
  return `${digits === 0n ? "" : sign}${text}${suffix}`;
}
