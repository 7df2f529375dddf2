// Constructs an adapter with no options, so the environment decides: a bad ROUTSTR_KIT_* value must be a
// ConfigError naming the setting; printed to stderr, exit 1.
const which = process.argv[2];
try {
  if (which === 'ai-sdk') {
    const { createRoutstr } = await import('@routstr-kit/ai-sdk');
    createRoutstr();
  } else {
    const { ChatRoutstr } = await import('@routstr-kit/langchain');
    new ChatRoutstr({ model: 'any' });
  }
  console.log('constructed: the bad setting was not noticed');
} catch (error) {
  console.error(`${error.name}: ${error.message}`);
  process.exitCode = 1;
}
