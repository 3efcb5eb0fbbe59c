"""The success reward model: VideoMAE over clips of L frames, judged with a sliding window."""
