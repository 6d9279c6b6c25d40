// An ES module handler, as FC's hello-world-es starter writes one.
export const handler = async (event) => `esm got ${event.toString()}`;
