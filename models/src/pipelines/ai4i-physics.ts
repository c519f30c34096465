/**
 * The derived columns of ai4i-machine-failure 1.1.0: the quantities the AI4I failure modes are defined
 * on (UCI #601 description), each computed so that a single tree split can reproduce the mode's
 * boundary on every row. Three details matter at the boundaries, where 1.0.0's float32 products
 * made its errors:
 *
 * - Temperature difference. The data's generator decides heat dissipation failure (HDF) by
 *   `process - air < 8.6` in float64 on 0.1 K readings, so at a shown difference of exactly 8.6 K the
 *   label follows the float64 rounding error of the subtraction (HDF on 11 of the 19 training rows
 *   at 8.6 K below 1380 rpm). The graph recovers the 0.1 K readings from float32 (round(x * 10) / 10 in
 *   float64 is the float64 the generator parsed), subtracts in float64, and encodes the result in
 *   float32 without losing its order: the 0.1 K value plus or minus 0.0025 K for the side the float64
 *   result falls on. A float32 subtraction instead gives values around 8.6 that scatter without
 *   relation to the label. This reproduces a property of the simulator, not of machines; the card says so.
 * - Power in W = torque x rpm x 2 pi / 60 (power failure below 3,500 W or above 9,000 W).
 * - Overstrain ratio = tool wear x torque, rounded to the data's 0.1 min Nm, over the limit of the
 *   product type (11,000 L, 12,000 M, 13,000 H min Nm; the type enters as its index 0, 1, 2). One split
 *   at 1 separates overstrain failures of all three types, so the types share their boundary evidence.
 *   Both operands are integers in 0.1 units, so a row exactly at its limit is exactly 1.
 */
import type { DerivedFeature } from '../onnx/derived.js';

/** Input columns, in feature spec order (ai4iFeatureSpec). */
const TYPE = 0;
const AIR = 1;
const PROCESS = 2;
const SPEED = 3;
const TORQUE = 4;
const WEAR = 5;

const c = (constant: number): { constant: number } => ({ constant });
const double = { precision: 'double', hidden: true } as const;

/** Derived step k is column 6 + k; the comments give each step's column. */
export const AI4I_PHYSICS_DERIVED: DerivedFeature[] = [
  { name: 'air_x10', op: 'mul', a: AIR, b: c(10), ...double }, // 6
  { name: 'air_decikelvin', op: 'round', a: 6, ...double }, // 7
  { name: 'air_k', op: 'div', a: 7, b: c(10), ...double }, // 8
  { name: 'process_x10', op: 'mul', a: PROCESS, b: c(10), ...double }, // 9
  { name: 'process_decikelvin', op: 'round', a: 9, ...double }, // 10
  { name: 'process_k', op: 'div', a: 10, b: c(10), ...double }, // 11
  { name: 'difference_exact', op: 'sub', a: 11, b: 8, ...double }, // 12: the generator's float64 difference
  { name: 'difference_x10', op: 'mul', a: 12, b: c(10), ...double }, // 13
  { name: 'difference_decikelvin', op: 'round', a: 13, ...double }, // 14
  { name: 'difference_shown', op: 'div', a: 14, b: c(10), ...double }, // 15: the 0.1 K value
  { name: 'difference_error', op: 'sub', a: 12, b: 15, ...double }, // 16
  { name: 'difference_side', op: 'sign', a: 16, ...double }, // 17: -1, 0 or 1
  { name: 'difference_nudge', op: 'mul', a: 17, b: c(-0.0025), ...double }, // 18
  { name: 'temperature_difference', op: 'sub', a: 15, b: 18, precision: 'double' }, // 19, visible
  { name: 'torque_x_speed', op: 'mul', a: TORQUE, b: SPEED, hidden: true }, // 20
  { name: 'power_w', op: 'mul', a: 20, b: c((2 * Math.PI) / 60) }, // 21, visible
  { name: 'type_step', op: 'mul', a: TYPE, b: c(10_000), hidden: true }, // 22
  { name: 'overstrain_limit_x10', op: 'sub', a: 22, b: c(-110_000), hidden: true }, // 23
  { name: 'wear_x_torque', op: 'mul', a: WEAR, b: TORQUE, hidden: true }, // 24
  { name: 'wear_x_torque_x10', op: 'mul', a: 24, b: c(10), hidden: true }, // 25
  { name: 'wear_x_torque_rounded', op: 'round', a: 25, hidden: true }, // 26
  { name: 'overstrain_ratio', op: 'div', a: 26, b: 23 }, // 27, visible
];
