"""Media hashing: PDQ and vPDQ perceptual hashes, MD5/SHA-1/SHA-256. Media are never kept."""

from tipwatch.media.hashing import MediaHashes, VideoFrameHash, hash_file, hash_paths

__all__ = ["MediaHashes", "VideoFrameHash", "hash_file", "hash_paths"]
