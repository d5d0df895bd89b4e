// Whether a promise has settled yet, for tests of code that resolves waiters synchronously.

/** True when `p` has settled once the microtasks already queued (and those they queue) have run. */
export async function isSettled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  await Promise.resolve();
  await Promise.resolve();
  return done;
}

/** True when `p` is still pending after the same microtasks. */
export async function isPending(p: Promise<unknown>): Promise<boolean> {
  return !(await isSettled(p));
}
