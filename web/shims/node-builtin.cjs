// Stands in for node:fs, node:zlib, ... in the browser bundle: the parts of sky/ and
// agents/ the page imports only reach them on paths the page never takes (files,
// gzip through zlib). Calling one says so instead of failing obscurely.
module.exports = new Proxy(
  {},
  {
    get(_t, name) {
      if (name === '__esModule') return false;
      return function unavailable() {
        throw new Error(`${String(name)}() is not available in the browser`);
      };
    },
  },
);
