/**
 * 1.1.0's derived columns on all 10,000 AI4I rows: each deterministic failure mode is one threshold on
 * them (the dataset's own definitions reproduce every label), and onnxruntime computes them bit for
 * bit as training does.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadAi4i } from '../data/ai4i.js';
import { buildFeatureRows } from '../features.js';
import { applyDerived, derivedColumns, derivedNodes } from '../onnx/derived.js';
import { ELEM_FLOAT, encodeModel, tensorInfo } from '../onnx/proto.js';
import { openSession } from '../onnx/runtime.js';
import { DATA_DIR } from '../paths.js';
import * as ort from 'onnxruntime-node';
import { ai4iFeatureSpec } from './ai4i.js';
import { AI4I_PHYSICS_DERIVED } from './ai4i-physics.js';

const rows = loadAi4i(join(DATA_DIR, 'ai4i2020'));
const input = buildFeatureRows(ai4iFeatureSpec(0.5), new Map([[1, rows.map((r) => ({ time: r.udi, raw: r.raw }))]]));
const visible = derivedColumns(AI4I_PHYSICS_DERIVED);
const width = input.width + visible.length;
const wide = applyDerived(input.x, input.width, AI4I_PHYSICS_DERIVED);
const column = (r: number, name: string): number => wide[r * width + input.width + visible.findIndex((d) => d.name === name)]!;
const value = (r: number, c: number): number => input.x[r * input.width + c]!;

describe('ai4i 1.1.0 derived columns', () => {
  it('are the temperature difference, power in W and overstrain ratio, the trees\' only extra columns', () => {
    expect(visible.map((d) => d.name)).toEqual(['temperature_difference', 'power_w', 'overstrain_ratio']);
    expect(input.width).toBe(6);
  });

  it('reproduce every HDF, PWF and OSF label with one threshold per column condition', () => {
    let hdf = 0;
    rows.forEach((row, r) => {
      const heat = column(r, 'temperature_difference') < 8.6 && value(r, 3) < 1380;
      const power = column(r, 'power_w') < 3500 || column(r, 'power_w') > 9000;
      const strain = column(r, 'overstrain_ratio') > 1;
      expect([row.udi, heat, power, strain]).toEqual([row.udi, row.modes.includes('HDF'), row.modes.includes('PWF'), row.modes.includes('OSF')]);
      if (heat) hdf += 1;
    });
    expect(hdf).toBe(115);
  });

  it('order rows shown at exactly 8.6 K by the side their float64 difference falls on', () => {
    // UDI 3237 (HDF) and 3795 (no HDF) both read 8.6 K at under 1380 rpm.
    const at = (udi: number): number => column(rows.findIndex((row) => row.udi === udi), 'temperature_difference');
    expect(at(3237)).toBe(Math.fround(8.5975));
    expect(at(3795)).toBe(Math.fround(8.6025));
  });

  it('onnxruntime computes them bit for bit as training does', async () => {
    const graph = derivedNodes('features', input.width, AI4I_PHYSICS_DERIVED);
    const bytes = encodeModel({
      graphName: 'ai4i-physics',
      opsets: { '': 17 },
      inputs: [tensorInfo('features', ELEM_FLOAT, ['N', input.width])],
      outputs: [tensorInfo(graph.output, ELEM_FLOAT, ['N', width])],
      initializers: graph.initializers,
      nodes: graph.nodes,
    });
    const session = await openSession(bytes);
    const out = await session.run({ features: new ort.Tensor('float32', input.x, [input.rows, input.width]) });
    await session.release();
    expect(out[graph.output]!.dims).toEqual([input.rows, width]);
    expect(Buffer.from((out[graph.output]!.data as Float32Array).buffer).equals(Buffer.from(wide.buffer))).toBe(true);
  });
});
