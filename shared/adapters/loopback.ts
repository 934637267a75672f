/** True when the URL's host is this machine (an emulator): the only place local credentials may be sent. */
export function isLoopback(url: string): boolean {
  const host = new URL(url).hostname;
  return host === "localhost" || host === "[::1]" || host === "::1" || /^127\./.test(host);
}
