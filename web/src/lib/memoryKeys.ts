// Data-plane keys for the try-it panel live here, in memory only: never in localStorage,
// sessionStorage or a cookie. A reload or sign-out forgets them.
const keys = new Map<string, string>();
const listeners = new Set<() => void>();

export function getTryKey(service: string): string | undefined {
  return keys.get(service);
}
export function setTryKey(service: string, key: string): void {
  keys.set(service, key);
  listeners.forEach((l) => l());
}
export function forgetTryKeys(): void {
  keys.clear();
  listeners.forEach((l) => l());
}
