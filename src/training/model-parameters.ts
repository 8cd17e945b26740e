import type * as tf from '@tensorflow/tfjs';

/**
 * The trainable variables of a model, keyed by their tfjs variable name (the
 * key tf.variableGrads uses), in the model's own weight order.
 */
export function trainableParameters(model: tf.LayersModel): Map<string, tf.Variable> {
  const params = new Map<string, tf.Variable>();
  for (const weight of model.trainableWeights) {
    const variable = weight.read() as tf.Variable;
    params.set(variable.name, variable);
  }
  return params;
}
