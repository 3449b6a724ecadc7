"""Media hashing: PDQ and vPDQ perceptual hashes, MD5/SHA-1/SHA-256. Hashing keeps nothing;
:mod:`tipwatch.media.sealed` encrypts the media a deployment chooses to keep (off by default)."""

from tipwatch.media.hashing import MediaHashes, VideoFrameHash, hash_file, hash_paths

__all__ = ["MediaHashes", "VideoFrameHash", "hash_file", "hash_paths"]
