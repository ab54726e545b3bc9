"""Options shared by the prompt-learning methods (prefix, prompt, ptuning)."""

from pydantic import Field

from ftlab.options import Options


class VirtualTokenOptions(Options):
    num_virtual_tokens: int = Field(20, ge=1, le=512, description="Number of learned virtual tokens.")


