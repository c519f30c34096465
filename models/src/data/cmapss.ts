/**
 * NASA C-MAPSS FD001 (models/data/cmapss, see PROVENANCE.md): whitespace-separated, no header, two
 * trailing spaces per line. 26 columns: unit, cycle, 3 operational settings, 21 sensors.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PdmError } from '@pdm/protocol';

export const CMAPSS_COLUMNS = [
  'unit', 'cycle', 'setting1', 'setting2', 'setting3',
  ...Array.from({ length: 21 }, (_, i) => `s${i + 1}`),
] as const;

export interface CmapssCycle {
  unit: number;
  cycle: number;
  /** Every column by name (s1..s21, setting1..3, cycle). */
  values: Record<string, number>;
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (cause) {
    throw new PdmError('NOT_FOUND', `cannot read data file ${path}`, { cause, context: { path } });
  }
}

export function parseCmapss(path: string): CmapssCycle[] {
  return readText(path)
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .map((line, i) => {
      const tokens = line.split(/\s+/).map(Number);
      if (tokens.length !== CMAPSS_COLUMNS.length || tokens.some((t) => !Number.isFinite(t))) {
        throw new PdmError('INTERNAL', `${path} line ${i + 1}: expected ${CMAPSS_COLUMNS.length} numbers, got "${line.slice(0, 80)}"`);
      }
      const values = Object.fromEntries(CMAPSS_COLUMNS.map((name, k) => [name, tokens[k]!]));
      return { unit: tokens[0]!, cycle: tokens[1]!, values };
    });
}

/** Cycles grouped per unit in cycle order. */
export function byUnit(cycles: readonly CmapssCycle[]): Map<number, CmapssCycle[]> {
  const units = new Map<number, CmapssCycle[]>();
  for (const c of cycles) units.set(c.unit, [...(units.get(c.unit) ?? []), c]);
  for (const list of units.values()) list.sort((a, b) => a.cycle - b.cycle);
  return units;
}

export interface CmapssFd001 {
  train: Map<number, CmapssCycle[]>;
  test: Map<number, CmapssCycle[]>;
  /** True RUL after the last test cycle, per test unit. */
  testRul: Map<number, number>;
}

export function loadCmapssFd001(dataDir: string): CmapssFd001 {
  const test = byUnit(parseCmapss(join(dataDir, 'test_FD001.txt')));
  const rul = readText(join(dataDir, 'RUL_FD001.txt')).split('\n').map((l) => l.trim()).filter((l) => l !== '').map(Number);
  const units = [...test.keys()].sort((a, b) => a - b);
  if (rul.length !== units.length) {
    throw new PdmError('INTERNAL', `RUL_FD001.txt has ${rul.length} values for ${units.length} test units`);
  }
  return {
    train: byUnit(parseCmapss(join(dataDir, 'train_FD001.txt'))),
    test,
    testRul: new Map(units.map((u, i) => [u, rul[i]!])),
  };
}
