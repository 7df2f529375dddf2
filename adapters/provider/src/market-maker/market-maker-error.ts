export type MarketMakerErrorCode = 'invalid_config' | 'no_power_reading' | 'missing_url';

/** The market maker cannot start as configured. */
export class MarketMakerConfigError extends Error {
  readonly code: MarketMakerErrorCode;
  constructor(code: MarketMakerErrorCode, message: string) {
    super(message);
    this.name = 'MarketMakerConfigError';
    this.code = code;
  }
}
