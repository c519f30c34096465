/**
 * Small builders over onnx-proto (protobufjs) for the parts of an ONNX model we write: typed
 * inputs/outputs with a dynamic batch dimension, attributes, float initializers, and the model
 * envelope. Facts this relies on (docs/PLATFORM.md): string attributes are bytes, rawData is
 * little-endian, ML ops live in the `ai.onnx.ml` domain with their own opset import.
 */
import onnxProto from 'onnx-proto';

export const { onnx } = onnxProto;
export type AttributeInput = onnxProto.onnx.IAttributeProto;
export type NodeInput = onnxProto.onnx.INodeProto;
export type TensorInput = onnxProto.onnx.ITensorProto;
export type ValueInfoInput = onnxProto.onnx.IValueInfoProto;

export const ML_DOMAIN = 'ai.onnx.ml';
export const ELEM_FLOAT = onnx.TensorProto.DataType.FLOAT;
export const ELEM_INT64 = onnx.TensorProto.DataType.INT64;

const Attr = onnx.AttributeProto.AttributeType;
const utf8 = new TextEncoder();

/** A tensor value: `dims` entries are fixed sizes, or a string for a named dynamic dimension. */
export function tensorInfo(name: string, elemType: number, dims: readonly (number | string)[]): ValueInfoInput {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}

export const attr = {
  float: (name: string, f: number): AttributeInput => ({ name, type: Attr.FLOAT, f }),
  int: (name: string, i: number): AttributeInput => ({ name, type: Attr.INT, i }),
  string: (name: string, s: string): AttributeInput => ({ name, type: Attr.STRING, s: utf8.encode(s) }),
  floats: (name: string, floats: readonly number[]): AttributeInput => ({ name, type: Attr.FLOATS, floats: [...floats] }),
  ints: (name: string, ints: readonly number[]): AttributeInput => ({ name, type: Attr.INTS, ints: [...ints] }),
  strings: (name: string, strings: readonly string[]): AttributeInput => ({
    name,
    type: Attr.STRINGS,
    strings: strings.map((s) => utf8.encode(s)),
  }),
};

/** A float32 initializer stored as little-endian raw bytes. */
export function floatTensor(name: string, dims: readonly number[], values: ArrayLike<number>): TensorInput {
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
  return { name, dims: [...dims], dataType: ELEM_FLOAT, rawData: bytes };
}

export interface ModelParts {
  graphName: string;
  nodes: NodeInput[];
  inputs: ValueInfoInput[];
  outputs: ValueInfoInput[];
  initializers?: TensorInput[];
  /** Opset per domain, e.g. { '': 17, 'ai.onnx.ml': 3 }. */
  opsets: Record<string, number>;
  irVersion?: number;
  docString?: string;
  metadata?: Record<string, string>;
}

export function encodeModel(parts: ModelParts): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: parts.irVersion ?? 8,
    producerName: 'pdm-models',
    producerVersion: '0.1.0',
    docString: parts.docString ?? '',
    opsetImport: Object.entries(parts.opsets).map(([domain, version]) => ({ domain, version })),
    metadataProps: Object.entries(parts.metadata ?? {}).map(([key, value]) => ({ key, value })),
    graph: {
      name: parts.graphName,
      node: parts.nodes,
      input: parts.inputs,
      output: parts.outputs,
      initializer: parts.initializers ?? [],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}
