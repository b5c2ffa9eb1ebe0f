/** Active learning's sampler: which predictions to keep for labelling. The rest of src/learning/sampler is internal. */
export {
  createSampler,
  type Decision,
  REFUSALS,
  type Refusal,
  Sampler,
  type SamplerCounters,
  type SamplerOptions,
  STRATEGIES,
  type Strategy,
} from './sampler.js';
export { uncertaintyScore } from './uncertainty.js';
