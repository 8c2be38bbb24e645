/** xs:boolean as data forms and XML attributes write it: "1"/"true", "0"/"false"; anything else is undefined. */
export function parseBoolean(v: string | undefined): boolean | undefined {
  if (v === '1' || v === 'true') return true;
  if (v === '0' || v === 'false') return false;
  return undefined;
}
