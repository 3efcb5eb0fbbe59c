"""The MuJoCo simulation of ALOHA: the embedded default robot."""
