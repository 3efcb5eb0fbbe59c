"""The vision-language-action policy: images + instruction -> a chunk of discrete actions."""
