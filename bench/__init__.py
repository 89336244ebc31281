"""Throughput benchmarks of the rlhf_core library, beside it rather than in it: `python -m bench` (or `rlhf bench`).

timing: the shared timing helpers; machine: what the numbers were measured on; model: our GPT's training,
sampling, LM head, reward model, torch.compile and scaling; rl: our GRPO, PPO and DPO steps; hf: the same
workloads on Hugging Face transformers and TRL (the `bench` extra); trl112: TRL 1.12's PPOTrainer in a child
process; targets: the speed-up goals (targets.json); cli: the tables. Random-init models and random tokens
throughout: the numbers measure speed, not quality.
"""
