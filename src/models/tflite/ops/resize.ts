/**
 * RESIZE_BILINEAR as ONNX Resize (linear) in NCHW. TFLite maps output cell x to input coordinate
 *   align_corners:      x * (in - 1) / (out - 1)        -> ONNX `align_corners`
 *   half_pixel_centers: (x + 0.5) * in / out - 0.5      -> ONNX `half_pixel` (TFLite then clamps a negative
 *                                                          coordinate to 0, as ONNX Runtime does)
 *   neither:            x * in / out                    -> ONNX `asymmetric`
 * and interpolates between floor and ceil of it, clamped to the last row/column: ONNX's linear mode.
 */
import { type OperatorConverter, requirePositive, requireRank, requireShape } from './common.js';

const resizeBilinear: OperatorConverter = (ctx, op) => {
  ctx.arity(op, 2);
  const o = ctx.options(op, 'ResizeBilinearOptions');
  // TFLite's kernel rejects this combination too.
  if (o.alignCorners && o.halfPixelCenters) {
    throw ctx.unsupported(op, 'align_corners and half_pixel_centers are both set');
  }
  const input = ctx.input(op, 0);
  requireRank(ctx, op, input, 4);
  const size = ctx.intConstant(op, 1);
  if (size.length !== 2) throw ctx.invalid(op, `size [${size}] is not [height, width]`);
  const [height, width] = size;
  requirePositive(ctx, op, { height, width });
  const [n, , , c] = input.shape;
  requireShape(ctx, op, [n, height, width, c]);
  const mode = o.alignCorners ? 'align_corners' : o.halfPixelCenters ? 'half_pixel' : 'asymmetric';
  const output = ctx.output(op);
  const resized = ctx.graph.node(
    'Resize',
    [
      ctx.value(op, 0, 'nchw'),
      '',
      '',
      ctx.graph.int64Initializer(`${output.name}/sizes`, [n, c, height, width]),
    ],
    { mode: { string: 'linear' }, coordinate_transformation_mode: { string: mode } },
    output.name,
  );
  ctx.define(op, resized, 'nchw');
};

export const resizeConverters: Record<string, OperatorConverter> = {
  RESIZE_BILINEAR: resizeBilinear,
};
