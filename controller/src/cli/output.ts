/**
 * Where pdmctl writes: tables for people (cli-table3), JSON for scripts (`--json`: exactly one JSON
 * document on stdout, nothing else). Commands hand over both shapes and never check the mode themselves.
 */
import Table from 'cli-table3';

export type Cell = string | number | boolean | null | undefined;

export interface Output {
  readonly json: boolean;
  /** A list: a table for people, the raw value for scripts. */
  table(headers: readonly string[], rows: readonly (readonly Cell[])[], raw: unknown): void;
  /** One object: "key: value" lines for people, the raw value for scripts. */
  record(fields: Readonly<Record<string, Cell>>, raw: unknown): void;
  /** A line for people only (skipped in --json mode). */
  note(text: string): void;
  /** An arbitrary document for scripts; for people printed as indented JSON. */
  value(raw: unknown): void;
  /** A progress or warning line on stderr, in both modes (stdout stays the one document of --json). */
  progress(text: string): void;
}

export interface Writers {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

export function createOutput(json: boolean, w: Writers): Output {
  const show = (c: Cell): string => (c === null || c === undefined ? '-' : String(c));
  return {
    json,
    table(headers, rows, raw) {
      if (json) { w.stdout(`${JSON.stringify(raw)}\n`); return; }
      const t = new Table({ head: [...headers], style: { head: [], border: [] } });
      for (const row of rows) t.push(row.map(show));
      w.stdout(`${t.toString()}\n`);
    },
    record(fields, raw) {
      if (json) { w.stdout(`${JSON.stringify(raw)}\n`); return; }
      const width = Math.max(0, ...Object.keys(fields).map((k) => k.length));
      w.stdout(`${Object.entries(fields).map(([k, v]) => `${k.padEnd(width)}  ${show(v)}`).join('\n')}\n`);
    },
    note(text) {
      if (!json) w.stdout(`${text}\n`);
    },
    value(raw) {
      w.stdout(`${JSON.stringify(raw, null, json ? undefined : 2)}\n`);
    },
    progress(text) {
      w.stderr(`${text}\n`);
    },
  };
}
