// Named barriers of one generation (controller/coordinator/barriers.ts).
import { describe, expect, it } from "vitest";
import { Barriers } from "../../controller/coordinator/barriers.js";
import { CoordinatorError } from "../../controller/coordinator/errors.js";
import { isPending } from "../helpers/promises.js";

describe("Barriers", () => {
  it("opens once every member entered, and each name is its own barrier", async () => {
    const b = new Barriers(2);
    const a0 = b.enter("a", "loaded");
    const other = b.enter("a", "saved");
    expect(await isPending(a0)).toBe(true);
    await Promise.all([a0, b.enter("b", "loaded")]);
    expect(await isPending(other)).toBe(true);
    // A name can be used again once it opened.
    const again = b.enter("a", "loaded");
    expect(await isPending(again)).toBe(true);
  });

  it("entering again replaces the earlier entry, which fails as aborted", async () => {
    const b = new Barriers(2);
    const first = b.enter("a", "x");
    const second = b.enter("a", "x");
    await expect(first).rejects.toMatchObject({ code: "aborted", message: "barrier x: entered again by a" });
    expect(await isPending(second)).toBe(true);
    await Promise.all([second, b.enter("b", "x")]);
  });

  it("a cancelled entry no longer counts", async () => {
    const b = new Barriers(2);
    void b.enter("a", "x").catch(() => {});
    b.cancel("a", "x");
    const bEntry = b.enter("b", "x");
    expect(await isPending(bEntry)).toBe(true);
  });

  it("failAll fails every waiting entry", async () => {
    const b = new Barriers(3);
    const x = b.enter("a", "x");
    const y = b.enter("b", "y");
    b.failAll(new CoordinatorError("aborted", "generation ended"));
    await expect(x).rejects.toMatchObject({ code: "aborted" });
    await expect(y).rejects.toMatchObject({ code: "aborted" });
  });
});
