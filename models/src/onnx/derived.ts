/**
 * Features a model derives from its input inside its own ONNX graph (ai.onnx Gather/Sub/Mul/Concat in
 * float32), e.g. power = torque x speed. The feature spec stays the contract (the agent sends the
 * spec's features), while the trees also see physically meaningful combinations. `applyDerived`
 * computes the same values in process with float32 rounding after every operation, so training and
 * onnxruntime see bit-identical derived values.
 */
import { PdmError } from '@pdm/protocol';
import { onnx, type NodeInput, type TensorInput } from './proto.js';

/**
 * An operand: a column index into the row (an input column, or an earlier derived column at
 * `inputWidth + k`), or a constant (rounded to float32, as the graph stores it).
 */
export type DerivedOperand = number | { constant: number };

export interface DerivedFeature {
  name: string;
  op: 'sub' | 'mul';
  a: DerivedOperand;
  b: DerivedOperand;
}

/** Refuses a column reference that is not an input column or a derived column defined before it. */
function checkOrder(inputWidth: number, derived: readonly DerivedFeature[]): void {
  derived.forEach((d, k) => {
    for (const o of [d.a, d.b]) {
      if (typeof o === 'number' && !(Number.isInteger(o) && o >= 0 && o < inputWidth + k)) {
        throw new PdmError('INTERNAL', `derived feature "${d.name}" reads column ${o}, which is not one of the ${inputWidth} input columns or a derived column before it`);
      }
    }
  });
}

/** Returns [rows, width + derived.length]: the input columns followed by the derived ones. */
export function applyDerived(x: Float32Array, width: number, derived: readonly DerivedFeature[]): Float32Array {
  if (derived.length === 0) return x;
  checkOrder(width, derived);
  const rows = x.length / width;
  const out = new Float32Array(rows * (width + derived.length));
  for (let r = 0; r < rows; r++) {
    const src = r * width;
    const dst = r * (width + derived.length);
    out.set(x.subarray(src, src + width), dst);
    const value = (operand: DerivedOperand): number => (typeof operand === 'number' ? out[dst + operand]! : Math.fround(operand.constant));
    derived.forEach((d, k) => {
      const a = value(d.a);
      const b = value(d.b);
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

/**
 * Nodes computing the derived columns from `input` ([N, inputWidth]) and concatenating them after the
 * input columns. An input column is gathered once as [N, 1]; a derived column is the tensor named
 * after it; a constant is a [1] initializer that broadcasts.
 */
export function derivedNodes(input: string, inputWidth: number, derived: readonly DerivedFeature[]): DerivedGraph {
  checkOrder(inputWidth, derived);
  const nodes: NodeInput[] = [];
  const initializers: TensorInput[] = [];
  const isInput = (o: DerivedOperand): o is number => typeof o === 'number' && o < inputWidth;
  const columns = new Set(derived.flatMap((d) => [d.a, d.b]).filter(isInput));
  for (const c of columns) {
    // Gather with a 1-D index keeps the column as [N, 1].
    initializers.push({ name: `col_${c}_index`, dims: [1], dataType: onnx.TensorProto.DataType.INT64, int64Data: [c] });
    nodes.push({ opType: 'Gather', name: `gather_${c}`, input: [input, `col_${c}_index`], output: [`col_${c}`], attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 }] });
  }
  const operand = (d: DerivedFeature, side: 'a' | 'b'): string => {
    const o = d[side];
    if (isInput(o)) return `col_${o}`;
    if (typeof o === 'number') return derived[o - inputWidth]!.name;
    const name = `${d.name}_${side}_constant`;
    initializers.push({ name, dims: [1], dataType: onnx.TensorProto.DataType.FLOAT, floatData: [o.constant] });
    return name;
  };
  derived.forEach((d) => {
    nodes.push({ opType: d.op === 'sub' ? 'Sub' : 'Mul', name: d.name, input: [operand(d, 'a'), operand(d, 'b')], output: [d.name] });
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
