/**
 * Features a model derives from its input inside its own ONNX graph (ai.onnx Gather/Sub/Mul/Concat in
 * float32), e.g. power = torque x speed. The feature spec stays the contract (the agent sends the
 * spec's features), while the trees also see physically meaningful combinations. `applyDerived`
 * computes the same values in process with float32 rounding after every operation, so training and
 * onnxruntime see bit-identical derived values.
 */
import { onnx, type NodeInput, type TensorInput } from './proto.js';

export interface DerivedFeature {
  name: string;
  op: 'sub' | 'mul';
  /** Column indices into the input row. */
  a: number;
  b: number;
}

/** Returns [rows, width + derived.length]: the input columns followed by the derived ones. */
export function applyDerived(x: Float32Array, width: number, derived: readonly DerivedFeature[]): Float32Array {
  if (derived.length === 0) return x;
  const rows = x.length / width;
  const out = new Float32Array(rows * (width + derived.length));
  for (let r = 0; r < rows; r++) {
    const src = r * width;
    const dst = r * (width + derived.length);
    out.set(x.subarray(src, src + width), dst);
    derived.forEach((d, k) => {
      const a = x[src + d.a]!;
      const b = x[src + d.b]!;
      out[dst + width + k] = Math.fround(d.op === 'sub' ? a - b : a * b);
    });
  }
  return out;
}

export interface DerivedGraph {
  nodes: NodeInput[];
  initializers: TensorInput[];
  /** Name of the [N, width + derived] tensor the trees read. */
  output: string;
}

/** Nodes computing the derived columns from `input` and concatenating them after the input columns. */
export function derivedNodes(input: string, derived: readonly DerivedFeature[]): DerivedGraph {
  const nodes: NodeInput[] = [];
  const initializers: TensorInput[] = [];
  const columns = new Set(derived.flatMap((d) => [d.a, d.b]));
  for (const c of columns) {
    // Gather with a 1-D index keeps the column as [N, 1].
    initializers.push({ name: `col_${c}_index`, dims: [1], dataType: onnx.TensorProto.DataType.INT64, int64Data: [c] });
    nodes.push({ opType: 'Gather', name: `gather_${c}`, input: [input, `col_${c}_index`], output: [`col_${c}`], attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 }] });
  }
  derived.forEach((d) => {
    nodes.push({ opType: d.op === 'sub' ? 'Sub' : 'Mul', name: d.name, input: [`col_${d.a}`, `col_${d.b}`], output: [d.name] });
  });
  nodes.push({
    opType: 'Concat',
    name: 'with_derived',
    input: [input, ...derived.map((d) => d.name)],
    output: ['with_derived'],
    attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 }],
  });
  return { nodes, initializers, output: 'with_derived' };
}
