export * from './nvidia-smi.ts';
export * from './vllm-metrics.ts';
export * from './ollama-ps.ts';
export * from './utilisation.ts';
