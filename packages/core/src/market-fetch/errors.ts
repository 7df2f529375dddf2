/** The adapter's settings cannot work (no wallet, a limit order without a limit). */
export class RoutstrConfigError extends Error {
  readonly code = 'invalid_settings';
  constructor(message: string) {
    super(message);
    this.name = 'RoutstrConfigError';
  }
}
