export {
  type GpuReading,
  GPU_QUERY_FIELDS,
  TelemetryParseError,
  parseNvidiaSmiCsv,
  readNvidiaSmi,
} from './nvidia-smi.ts';
export { type VllmLoad, type PrometheusSample, parsePrometheusText, parseVllmMetrics } from './vllm-metrics.ts';
export { type OllamaLoad, parseOllamaPs } from './ollama-ps.ts';
export { type LoadSignals, type Utilisation, MAX_UTILISATION, blendUtilisation } from './utilisation.ts';
