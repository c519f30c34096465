/**
 * Features a model derives from its input inside its own ONNX graph (ai.onnx Gather, Sub, Mul, Div,
 * Round, Sign, Cast, Concat), e.g. power = torque x speed. The feature spec stays the contract (the
 * agent sends the spec's features), while the trees also see physically meaningful combinations.
 * `applyDerived` computes the same values in process with the graph's rounding after every operation
 * (float32 by default, float64 for a step marked `precision: 'double'`), so training and onnxruntime
 * see bit-identical derived values.
 */
import { PdmError } from '@pdm/protocol';
import { onnx, type NodeInput, type TensorInput } from './proto.js';

/**
 * An operand: a column index into the row (an input column, or an earlier derived step at
 * `inputWidth + k`), or a constant (stored, and rounded, at the step's precision).
 */
export type DerivedOperand = number | { constant: number };

/** Binary ops read `a` and `b`; `round` (half to even, as ONNX Round) and `sign` read only `a`. */
export type DerivedFeature = {
  name: string;
  /** 'double' runs the step in float64 (operands cast up); the trees still read float32. Default 'float'. */
  precision?: 'float' | 'double';
  /** An intermediate step: computed for later steps but not a column the trees read. */
  hidden?: boolean;
} & ({ op: 'sub' | 'mul' | 'div'; a: DerivedOperand; b: DerivedOperand } | { op: 'round' | 'sign'; a: DerivedOperand });

const ONNX_OP = { sub: 'Sub', mul: 'Mul', div: 'Div', round: 'Round', sign: 'Sign' } as const;

function operandsOf(d: DerivedFeature): DerivedOperand[] {
  return 'b' in d ? [d.a, d.b] : [d.a];
}

/** The derived steps the trees read, in column order after the input columns. */
export function derivedColumns(derived: readonly DerivedFeature[]): DerivedFeature[] {
  return derived.filter((d) => d.hidden !== true);
}

/** Refuses a column reference that is not an input column or a derived step defined before it. */
function checkOrder(inputWidth: number, derived: readonly DerivedFeature[]): void {
  derived.forEach((d, k) => {
    for (const o of operandsOf(d)) {
      if (typeof o === 'number' && !(Number.isInteger(o) && o >= 0 && o < inputWidth + k)) {
        throw new PdmError('INTERNAL', `derived feature "${d.name}" reads column ${o}, which is not one of the ${inputWidth} input columns or a derived column before it`);
      }
    }
  });
}

/** ONNX Round rounds halves to even; Math.round rounds them up. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function compute(op: DerivedFeature['op'], a: number, b: number): number {
  switch (op) {
    case 'sub': return a - b;
    case 'mul': return a * b;
    case 'div': return a / b;
    case 'round': return roundHalfEven(a);
    case 'sign': return Math.sign(a);
  }
}

/** Returns [rows, width + visible derived]: the input columns followed by the derived columns the trees read. */
export function applyDerived(x: Float32Array, width: number, derived: readonly DerivedFeature[]): Float32Array {
  if (derived.length === 0) return x;
  checkOrder(width, derived);
  const rows = x.length / width;
  const visible = derived.flatMap((d, k) => (d.hidden === true ? [] : [width + k]));
  const outWidth = width + visible.length;
  const out = new Float32Array(rows * outWidth);
  const steps = new Float64Array(width + derived.length);
  // A float step reads float32 operands (a double step's result is cast down, as in the graph) and rounds its result.
  const roundings = derived.map((d) => (d.precision === 'double' ? (v: number): number => v : Math.fround));
  for (let r = 0; r < rows; r++) {
    steps.set(x.subarray(r * width, (r + 1) * width));
    derived.forEach((d, k) => {
      const round = roundings[k]!;
      const value = (o: DerivedOperand): number => round(typeof o === 'number' ? steps[o]! : o.constant);
      steps[width + k] = round(compute(d.op, value(d.a), 'b' in d ? value(d.b) : 0));
    });
    out.set(x.subarray(r * width, (r + 1) * width), r * outWidth);
    visible.forEach((column, j) => {
      out[r * outWidth + width + j] = Math.fround(steps[column]!);
    });
  }
  return out;
}

export interface DerivedGraph {
  nodes: NodeInput[];
  initializers: TensorInput[];
  /** Name of the [N, width + visible derived] tensor the trees read. */
  output: string;
}

/**
 * Nodes computing the derived steps from `input` ([N, inputWidth]) and concatenating the visible ones
 * after the input columns. An input column is gathered once as [N, 1]; a derived step is the tensor
 * named after it; a constant is a [1] initializer that broadcasts; a tensor needed at the other
 * precision is cast once. A graph with float steps only has no Cast nodes.
 */
export function derivedNodes(input: string, inputWidth: number, derived: readonly DerivedFeature[]): DerivedGraph {
  checkOrder(inputWidth, derived);
  const nodes: NodeInput[] = [];
  const initializers: TensorInput[] = [];
  const isInput = (o: DerivedOperand): o is number => typeof o === 'number' && o < inputWidth;
  const columns = new Set(derived.flatMap(operandsOf).filter(isInput));
  for (const c of columns) {
    // Gather with a 1-D index keeps the column as [N, 1].
    initializers.push({ name: `col_${c}_index`, dims: [1], dataType: onnx.TensorProto.DataType.INT64, int64Data: [c] });
    nodes.push({ opType: 'Gather', name: `gather_${c}`, input: [input, `col_${c}_index`], output: [`col_${c}`], attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 }] });
  }
  const isDouble = (o: number): boolean => !isInput(o) && derived[o - inputWidth]!.precision === 'double';
  const cast = castOnce(nodes);
  const tensorOf = (o: number): string => (isInput(o) ? `col_${o}` : derived[o - inputWidth]!.name);
  const operand = (d: DerivedFeature, side: 'a' | 'b'): string => {
    const o = side === 'a' || !('b' in d) ? d.a : d.b;
    const double = d.precision === 'double';
    if (typeof o === 'number') return isDouble(o) === double ? tensorOf(o) : cast(tensorOf(o), double);
    const name = `${d.name}_${side}_constant`;
    initializers.push(double
      ? { name, dims: [1], dataType: onnx.TensorProto.DataType.DOUBLE, doubleData: [o.constant] }
      : { name, dims: [1], dataType: onnx.TensorProto.DataType.FLOAT, floatData: [o.constant] });
    return name;
  };
  derived.forEach((d) => {
    const inputs = 'b' in d ? [operand(d, 'a'), operand(d, 'b')] : [operand(d, 'a')];
    nodes.push({ opType: ONNX_OP[d.op], name: d.name, input: inputs, output: [d.name] });
  });
  const visible = derived.flatMap((d, k) => (d.hidden === true ? [] : [isDouble(inputWidth + k) ? cast(d.name, false) : d.name]));
  nodes.push({
    opType: 'Concat',
    name: 'with_derived',
    input: [input, ...visible],
    output: ['with_derived'],
    attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 }],
  });
  return { nodes, initializers, output: 'with_derived' };
}

/** Returns a function that casts a tensor to float64 or float32, adding each Cast node once. */
function castOnce(nodes: NodeInput[]): (tensor: string, toDouble: boolean) => string {
  const done = new Set<string>();
  return (tensor, toDouble) => {
    const name = `${tensor}_as_${toDouble ? 'double' : 'float'}`;
    if (!done.has(name)) {
      done.add(name);
      const to = toDouble ? onnx.TensorProto.DataType.DOUBLE : onnx.TensorProto.DataType.FLOAT;
      nodes.push({ opType: 'Cast', name, input: [tensor], output: [name], attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: to }] });
    }
    return name;
  };
}
