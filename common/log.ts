// Structured JSON-lines logging. One event per line; every line carries the context the
// logger was created with (run id, rank, generation, component), so logs of many processes can be
// merged and filtered.

export type LogLevel = "debug" | "info" | "warn" | "error";
const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, unknown>;

export interface LogSink {
  write(line: string): void;
}

export interface Logger {
  debug(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
  /** A logger whose lines also carry `fields` (e.g. a new generation number). */
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  /** Context written on every line: component, run, rank, generation, ... */
  context?: LogFields;
  /** Lowest level written; defaults to RADFLEET_LOG_LEVEL or "info". */
  level?: LogLevel;
  /** Where lines go; defaults to stderr so stdout stays free for command output. */
  sink?: LogSink;
}

function levelFromEnv(): LogLevel {
  const v = process.env.RADFLEET_LOG_LEVEL;
  return v === "debug" || v === "info" || v === "warn" || v === "error" ? v : "info";
}

const stderrSink: LogSink = { write: (line) => process.stderr.write(line) };

function serialise(value: unknown): unknown {
  if (value instanceof Error)
    return {
      name: value.name,
      message: value.message,
      ...("code" in value ? { code: (value as { code: unknown }).code } : {}),
    };
  if (typeof value === "bigint") return value.toString();
  return value;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const context = options.context ?? {};
  const min = LEVELS[options.level ?? levelFromEnv()];
  const sink = options.sink ?? stderrSink;
  const emit = (level: LogLevel, event: string, fields?: LogFields): void => {
    if (LEVELS[level] < min) return;
    const record: LogFields = { ts: new Date().toISOString(), level, event, ...context };
    if (fields) for (const [k, v] of Object.entries(fields)) record[k] = serialise(v);
    sink.write(JSON.stringify(record) + "\n");
  };
  return {
    debug: (e, f) => emit("debug", e, f),
    info: (e, f) => emit("info", e, f),
    warn: (e, f) => emit("warn", e, f),
    error: (e, f) => emit("error", e, f),
    child: (fields) => createLogger({ context: { ...context, ...fields }, level: options.level, sink }),
  };
}

/** A logger that drops everything; for library code whose caller passed none. */
export const silentLogger: Logger = createLogger({ sink: { write: () => {} } });
