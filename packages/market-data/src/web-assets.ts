/** Static files of the web page, served for every non-/api GET (owned by the web page; this stub serves none). */

/** A file of the page: its bytes and content type. */
export interface WebAsset {
  readonly body: Uint8Array | string;
  readonly contentType: string;
}

/** The asset at `pathname`, or undefined (the server answers 404). */
export function webAsset(pathname: string): WebAsset | undefined {
  void pathname;
  return undefined;
}
