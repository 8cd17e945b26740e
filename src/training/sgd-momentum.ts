import * as tf from '@tensorflow/tfjs';

export interface SgdOptions {
  momentum: number;
  weightDecay: number;
}

/**
 * SGD with momentum and L2 weight decay, PyTorch semantics:
 *   g = grad + wd * p;  buf = momentum * buf + g;  p -= lr * buf
 * (the first step initialises buf = g). Parameters are addressed by name so
 * the same optimizer serves a local model and, later, the coordinator's
 * master copy.
 */
export class SgdMomentum {
  private readonly slots = new Map<string, tf.Variable>();
  private stepsTaken = 0;

  constructor(private readonly options: SgdOptions) {}

  get step(): number {
    return this.stepsTaken;
  }

  apply(params: ReadonlyMap<string, tf.Variable>, grads: Readonly<Record<string, tf.Tensor>>, lr: number): void {
    const { momentum, weightDecay } = this.options;
    tf.tidy(() => {
      for (const [name, param] of params) {
        const grad = grads[name];
        if (!grad) continue; // a parameter that did not take part (frozen layer) keeps its value
        const g = weightDecay > 0 ? tf.add(grad, tf.mul(param, weightDecay)) : grad;
        let update: tf.Tensor = g;
        if (momentum > 0) {
          const slot = this.slots.get(name);
          if (!slot) {
            this.slots.set(name, tf.variable(g, false, `${name}/momentum`));
          } else {
            update = tf.add(tf.mul(slot, momentum), g);
            slot.assign(update);
          }
        }
        param.assign(tf.sub(param, tf.mul(update, lr)));
      }
    });
    this.stepsTaken += 1;
  }

  /** A parameter's momentum buffer (by variable name); undefined before its first step. */
  momentumOf(name: string): tf.Tensor | undefined {
    return this.slots.get(name);
  }

  /** Sets a parameter's momentum buffer (a resumed run); the caller may dispose `values` afterwards. */
  setMomentum(name: string, values: tf.Tensor): void {
    const slot = this.slots.get(name);
    if (slot) slot.assign(values);
    else this.slots.set(name, tf.variable(values, false, `${name}/momentum`));
  }

  dispose(): void {
    for (const slot of this.slots.values()) slot.dispose();
    this.slots.clear();
  }
}
