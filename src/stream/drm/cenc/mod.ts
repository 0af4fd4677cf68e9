/**
 * Common Encryption (ISO/IEC 23001-7) for fragmented MP4: box reading, the protection an
 * init segment declares, the protected samples of a fragment, `cenc` and `cbcs` sample
 * decryption with WebCrypto, and a streaming decryptor that turns an encrypted fMP4 stream
 * into a clear one of the same length. Pure functions over bytes.
 * @module
 */
export {
  blankBox,
  type Box,
  childBoxes,
  childrenOf,
  findChild,
  findPath,
  fourCc,
  type FullBox,
  invalidSegment,
  readBoxHeader,
  readFullBox,
  u16,
  u32,
  u64,
  writeFourCc,
  writeU32,
} from "./boxes.ts";
export { type ContentKey, decryptSamples, importContentKey, patternRuns } from "./cipher.ts";
export {
  type EncryptedSample,
  type FragmentOptions,
  type FragmentPlan,
  planFragment,
} from "./fragment.ts";
export { clearInit, type InitInfo, type Protection, readInit, type TrackInfo } from "./init.ts";
export { decryptFragments, type DecryptStreamOptions } from "./stream.ts";
