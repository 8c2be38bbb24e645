/** Small access policies for in-memory tests: one product (mxt) to a collaboration level and the public. */

/** `public` is the public level's settings, e.g. "{ embargo: 1h }". */
export function mxtPolicy(publicLevel = '{}'): string {
  return `
version: 1
levels:
  - id: collaboration
    members: { domains: [svom.fr] }
  - id: public
    public: true
products:
  - id: mxt
    publishers: [fsc@svom.fr]
    levels:
      collaboration: {}
      public: ${publicLevel}
`;
}
