// A small schema language: one definition gives the TypeScript type (Infer<>), a validator that
// reports every error with its field path, defaults, and the OpenAPI v3 structural schema that the
// TrainingRun CRD embeds. The run spec is written once in it, so the CLI, the controller and the
// API server cannot disagree about what a valid spec is.

export interface SpecIssue {
  /** Dotted path of the field, e.g. "spec.training.batchSize". */
  path: string;
  /** What was expected and what was found. */
  message: string;
}

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type OpenApiSchema = { [key: string]: JsonValue };

interface Ctx {
  issues: SpecIssue[];
}

export interface Node<T> {
  readonly kind: string;
  /** Value used when the field is absent; undefined means the field is required (or optional, see `optional`). */
  readonly defaultValue: T | undefined;
  readonly optional: boolean;
  readonly description: string | undefined;
  parse(value: unknown, path: string, ctx: Ctx): T | undefined;
  openapi(): OpenApiSchema;
}

export type Infer<N> = N extends Node<infer T> ? T : never;

function show(value: unknown): string {
  if (value === undefined) return "nothing";
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return "a list";
  if (value !== null && typeof value === "object") return "an object";
  return String(value);
}

interface Common<T> {
  description?: string;
  default?: T;
}

function withMeta(schema: OpenApiSchema, description: string | undefined, def: unknown): OpenApiSchema {
  const out: OpenApiSchema = { ...schema };
  if (description) out.description = description;
  if (def !== undefined) out.default = def as JsonValue;
  return out;
}

export function int(opts: Common<number> & { min?: number; max?: number } = {}): Node<number> {
  const range =
    opts.min !== undefined && opts.max !== undefined
      ? ` in [${opts.min}, ${opts.max}]`
      : opts.min !== undefined
        ? ` >= ${opts.min}`
        : opts.max !== undefined
          ? ` <= ${opts.max}`
          : "";
  return {
    kind: "int",
    defaultValue: opts.default,
    optional: false,
    description: opts.description,
    parse(value, path, ctx) {
      const ok =
        typeof value === "number" &&
        Number.isInteger(value) &&
        (opts.min === undefined || value >= opts.min) &&
        (opts.max === undefined || value <= opts.max);
      if (!ok) {
        ctx.issues.push({ path, message: `expected an integer${range}, got ${show(value)}` });
        return undefined;
      }
      return value as number;
    },
    openapi() {
      const s: OpenApiSchema = { type: "integer" };
      if (opts.min !== undefined) s.minimum = opts.min;
      if (opts.max !== undefined) s.maximum = opts.max;
      return withMeta(s, opts.description, opts.default);
    },
  };
}

export function num(
  opts: Common<number> & { min?: number; max?: number; exclusiveMin?: boolean } = {},
): Node<number> {
  const lower = opts.min === undefined ? "" : opts.exclusiveMin ? ` > ${opts.min}` : ` >= ${opts.min}`;
  const upper = opts.max === undefined ? "" : `${lower ? " and" : ""} <= ${opts.max}`;
  return {
    kind: "number",
    defaultValue: opts.default,
    optional: false,
    description: opts.description,
    parse(value, path, ctx) {
      const ok =
        typeof value === "number" &&
        Number.isFinite(value) &&
        (opts.min === undefined || (opts.exclusiveMin ? value > opts.min : value >= opts.min)) &&
        (opts.max === undefined || value <= opts.max);
      if (!ok) {
        ctx.issues.push({ path, message: `expected a number${lower}${upper}, got ${show(value)}` });
        return undefined;
      }
      return value as number;
    },
    openapi() {
      const s: OpenApiSchema = { type: "number" };
      if (opts.min !== undefined) s.minimum = opts.min;
      if (opts.exclusiveMin) s.exclusiveMinimum = true;
      if (opts.max !== undefined) s.maximum = opts.max;
      return withMeta(s, opts.description, opts.default);
    },
  };
}

export function str(
  opts: Common<string> & { pattern?: RegExp; patternHint?: string; minLength?: number } = {},
): Node<string> {
  return {
    kind: "string",
    defaultValue: opts.default,
    optional: false,
    description: opts.description,
    parse(value, path, ctx) {
      if (typeof value !== "string") {
        ctx.issues.push({ path, message: `expected a string, got ${show(value)}` });
        return undefined;
      }
      if (opts.minLength !== undefined && value.length < opts.minLength) {
        ctx.issues.push({ path, message: `expected a non-empty string, got ${show(value)}` });
        return undefined;
      }
      if (opts.pattern && !opts.pattern.test(value)) {
        ctx.issues.push({
          path,
          message: `expected ${opts.patternHint ?? `a string matching ${opts.pattern.source}`}, got ${show(value)}`,
        });
        return undefined;
      }
      return value;
    },
    openapi() {
      const s: OpenApiSchema = { type: "string" };
      if (opts.pattern) s.pattern = opts.pattern.source;
      if (opts.minLength !== undefined) s.minLength = opts.minLength;
      return withMeta(s, opts.description, opts.default);
    },
  };
}

export function bool(opts: Common<boolean> = {}): Node<boolean> {
  return {
    kind: "boolean",
    defaultValue: opts.default,
    optional: false,
    description: opts.description,
    parse(value, path, ctx) {
      if (typeof value !== "boolean") {
        ctx.issues.push({ path, message: `expected true or false, got ${show(value)}` });
        return undefined;
      }
      return value;
    },
    openapi: () => withMeta({ type: "boolean" }, opts.description, opts.default),
  };
}

export function oneOf<const V extends readonly string[]>(
  values: V,
  opts: Common<V[number]> = {},
): Node<V[number]> {
  return {
    kind: "enum",
    defaultValue: opts.default,
    optional: false,
    description: opts.description,
    parse(value, path, ctx) {
      if (typeof value !== "string" || !values.includes(value)) {
        ctx.issues.push({ path, message: `expected one of ${values.join(", ")}, got ${show(value)}` });
        return undefined;
      }
      return value as V[number];
    },
    openapi: () => withMeta({ type: "string", enum: [...values] }, opts.description, opts.default),
  };
}

export function list<T>(
  item: Node<T>,
  opts: Common<T[]> & { minItems?: number; maxItems?: number } = {},
): Node<T[]> {
  return {
    kind: "list",
    defaultValue: opts.default,
    optional: false,
    description: opts.description,
    parse(value, path, ctx) {
      if (!Array.isArray(value)) {
        ctx.issues.push({ path, message: `expected a list, got ${show(value)}` });
        return undefined;
      }
      if (opts.minItems !== undefined && value.length < opts.minItems) {
        ctx.issues.push({ path, message: `expected at least ${opts.minItems} item(s), got ${value.length}` });
        return undefined;
      }
      if (opts.maxItems !== undefined && value.length > opts.maxItems) {
        ctx.issues.push({ path, message: `expected at most ${opts.maxItems} item(s), got ${value.length}` });
        return undefined;
      }
      const out: T[] = [];
      let ok = true;
      value.forEach((v, i) => {
        const parsed = parseField(item, v, `${path}[${i}]`, ctx);
        if (parsed === undefined) ok = false;
        else out.push(parsed);
      });
      return ok ? out : undefined;
    },
    openapi() {
      const s: OpenApiSchema = { type: "array", items: item.openapi() };
      if (opts.minItems !== undefined) s.minItems = opts.minItems;
      if (opts.maxItems !== undefined) s.maxItems = opts.maxItems;
      return withMeta(s, opts.description, opts.default);
    },
  };
}

/** A string-keyed map (labels, node selectors, annotations). */
export function record<T>(value: Node<T>, opts: Common<Record<string, T>> = {}): Node<Record<string, T>> {
  return {
    kind: "record",
    defaultValue: opts.default,
    optional: false,
    description: opts.description,
    parse(input, path, ctx) {
      if (input === null || typeof input !== "object" || Array.isArray(input)) {
        ctx.issues.push({ path, message: `expected a map of key: value, got ${show(input)}` });
        return undefined;
      }
      const out: Record<string, T> = {};
      let ok = true;
      for (const [k, v] of Object.entries(input)) {
        const parsed = parseField(value, v, `${path}.${k}`, ctx);
        if (parsed === undefined) ok = false;
        else out[k] = parsed;
      }
      return ok ? out : undefined;
    },
    openapi: () =>
      withMeta({ type: "object", additionalProperties: value.openapi() }, opts.description, opts.default),
  };
}

/**
 * Free-form Kubernetes objects (tolerations, affinity) passed through to pods unchanged; the API
 * server validates them when the pod is created.
 */
export function freeform(opts: Common<JsonValue> & { array?: boolean } = {}): Node<JsonValue> {
  return {
    kind: "freeform",
    defaultValue: opts.default,
    optional: false,
    description: opts.description,
    parse(value, path, ctx) {
      if (
        opts.array
          ? !Array.isArray(value)
          : value === null || typeof value !== "object" || Array.isArray(value)
      ) {
        ctx.issues.push({
          path,
          message: `expected ${opts.array ? "a list" : "an object"}, got ${show(value)}`,
        });
        return undefined;
      }
      return value as JsonValue;
    },
    openapi: () =>
      withMeta(
        opts.array
          ? { type: "array", items: { type: "object", "x-kubernetes-preserve-unknown-fields": true } }
          : { type: "object", "x-kubernetes-preserve-unknown-fields": true },
        opts.description,
        opts.default,
      ),
  };
}

/** Marks a field that may be absent with no default; its type gains `undefined`. */
export function optional<T>(node: Node<T>): Node<T | undefined> {
  return { ...node, optional: true, defaultValue: undefined } as Node<T | undefined>;
}

type Fields = Record<string, Node<unknown>>;
type ObjectOf<F extends Fields> = { [K in keyof F]: Infer<F[K]> };

export interface ObjectOptions<T> {
  description?: string;
  /** Cross-field checks; push issues with paths relative to the object's path. */
  refine?: (value: T, path: string, issues: SpecIssue[]) => void;
  /** The object may be absent entirely (no default filled in). */
  optional?: boolean;
  /**
   * The same cross-field checks as CEL rules for the CRD (x-kubernetes-validations), so the API
   * server refuses at `kubectl apply` what `refine` refuses here. Keep the two in step.
   */
  cel?: Array<{ rule: string; message: string; fieldPath?: string }>;
}

function parseField<T>(node: Node<T>, value: unknown, path: string, ctx: Ctx): T | undefined {
  if (value === undefined || value === null) {
    if (node.defaultValue !== undefined) return structuredClone(node.defaultValue);
    if (node.optional) return undefined;
    if (node.kind === "object") return node.parse({}, path, ctx);
    ctx.issues.push({ path, message: "is required" });
    return undefined;
  }
  return node.parse(value, path, ctx);
}

export function object<F extends Fields>(
  fields: F,
  opts: ObjectOptions<ObjectOf<F>> = {},
): Node<ObjectOf<F>> {
  return {
    kind: "object",
    defaultValue: undefined,
    optional: opts.optional ?? false,
    description: opts.description,
    parse(value, path, ctx) {
      if (value === null || typeof value !== "object" || Array.isArray(value)) {
        ctx.issues.push({ path, message: `expected an object, got ${show(value)}` });
        return undefined;
      }
      const input = value as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      let ok = true;
      for (const key of Object.keys(input)) {
        if (!(key in fields)) {
          ctx.issues.push({
            path: `${path}.${key}`,
            message: `unknown field (expected one of: ${Object.keys(fields).join(", ")})`,
          });
          ok = false;
        }
      }
      for (const [key, node] of Object.entries(fields)) {
        const before = ctx.issues.length;
        const parsed = parseField(node, input[key], `${path}.${key}`, ctx);
        if (ctx.issues.length > before) ok = false;
        else if (parsed !== undefined) out[key] = parsed;
      }
      if (!ok) return undefined;
      const typed = out as ObjectOf<F>;
      if (opts.refine) {
        const before = ctx.issues.length;
        opts.refine(typed, path, ctx.issues);
        if (ctx.issues.length > before) return undefined;
      }
      return typed;
    },
    openapi() {
      const properties: OpenApiSchema = {};
      const required: string[] = [];
      for (const [key, node] of Object.entries(fields)) {
        properties[key] = node.openapi();
        if (node.defaultValue === undefined && !node.optional && node.kind !== "object") required.push(key);
      }
      const s: OpenApiSchema = { type: "object", properties };
      if (required.length) s.required = required;
      if (opts.description) s.description = opts.description;
      if (opts.cel?.length) s["x-kubernetes-validations"] = opts.cel;
      return s;
    },
  };
}

export class SpecError extends Error {
  constructor(readonly issues: SpecIssue[]) {
    super(
      `invalid run spec (${issues.length} error${issues.length === 1 ? "" : "s"}):\n` +
        issues.map((i) => `  ${i.path}: ${i.message}`).join("\n"),
    );
    this.name = "SpecError";
  }
}

/** Validates `value` against `node`, filling defaults; throws SpecError listing every problem. */
export function parseOrThrow<T>(node: Node<T>, value: unknown, root = "spec"): T {
  const ctx: Ctx = { issues: [] };
  const parsed = parseField(node, value, root, ctx);
  if (ctx.issues.length > 0 || parsed === undefined) throw new SpecError(ctx.issues);
  return parsed;
}
