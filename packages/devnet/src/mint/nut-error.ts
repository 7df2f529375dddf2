/** NUT error codes this mint answers with (cashubtc/nuts error_codes.md); 10000 is our catch-all for malformed requests. */
export const NutCode = {
  malformedRequest: 10000,
  outputAlreadySigned: 10002,
  proofVerificationFailed: 10003,
  tokenAlreadySpent: 11001,
  transactionUnbalanced: 11002,
  unitUnsupported: 11005,
  amountOutsideLimit: 11006,
  duplicateInputs: 11007,
  duplicateOutputs: 11008,
  amountlessInvoiceUnsupported: 11011,
  keysetUnknown: 12001,
  keysetInactive: 12002,
  quoteNotPaid: 20001,
  quoteAlreadyIssued: 20002,
  lightningPaymentFailed: 20004,
  invoiceAlreadyPaid: 20006,
  quoteExpired: 20007,
} as const;

export type NutCode = (typeof NutCode)[keyof typeof NutCode];

/** A refusal the mint answers with HTTP 400 `{"detail", "code"}`; the mint's state is unchanged when it is thrown. */
export class NutError extends Error {
  readonly code: NutCode;

  constructor(code: NutCode, detail: string) {
    super(detail);
    this.name = 'NutError';
    this.code = code;
  }
}
