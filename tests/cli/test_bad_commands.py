"""The bad-command list of issue 15: mistyped commands a hurried user types, each refused before any sampling
or training with an exit status that is not 0, a message naming the setting (and where sensible the allowed
values), no traceback, and nothing left behind in the working, output or cache directories.

The console entry points run in-process (``main()`` of :mod:`rgnet.cli` with ``sys.argv`` set, as the
console scripts call them; a ``SystemExit`` carrying a message is what the interpreter prints to stderr with
status 1), so the table costs no torch import per case; a few cases run the real commands as subprocesses.
Work is forbidden during the table (training, dataset generation and benchmarks raise), so a command that
slips through the checks fails its case at once instead of training.

In the arguments, ``TMP`` stands for the working directory of the case, which holds ``afile``, a file where a
directory is expected (unusable as a directory even for root).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import rgnet.cli.bench
import rgnet.cli.report
import rgnet.cli.sample
import rgnet.cli.train
from rgnet._threads import GOOD_NEIGHBOUR_ENV
from rgnet.runs import benchmark, sampling, training

NO_GPU = pytest.mark.skipif(torch.cuda.is_available(), reason="the command is valid where a GPU exists")
EXPERIMENTS = sorted(
    p.stem for p in (Path(__file__).parents[2] / "conf" / "experiment").glob("*.yaml") if p.is_file()
)


def case(command: str, args: str, *expected: str, gpu: bool = False):
    """One bad command: ``rgnet-<command> <args>`` must fail naming each of ``expected`` on stderr."""
    marks = [NO_GPU] if gpu else []
    return pytest.param(command, args.split(), expected, marks=marks, id=f"{command} {args}".strip())


def train(args: str, *expected: str, gpu: bool = False):
    return case("train", args, *expected, gpu=gpu)


def sample(args: str, *expected: str, gpu: bool = False):
    return case("sample", args, *expected, gpu=gpu)


def bench(args: str, *expected: str, gpu: bool = False):
    return case("bench", args, *expected, gpu=gpu)


def report(args: str, *expected: str):
    return case("report", args, *expected)


MS = "experiment=mehta_schwab"
CF = "experiment=coupling_flow_1d"
IB = "experiment=ib_relevance"
IBC = "experiment=ib_relevance_cylinder"
IBP = "experiment=ib_relevance_potts"
RSMI = "experiment=rsmi"
RSMIP = "experiment=rsmi_potts"

CASES = [
    # --- the examples of issue 15: incompatible model and data, caught before any data are made
    train(f"{MS} data.L=16", "callbacks.rg_measurement", "side 16"),
    train(f"{MS} data.L=30", "callbacks.rg_measurement", "side 30"),
    train(f"{MS} model.layers=[100,25]", "model: layers[0] = 100", "L*L = 1600"),
    train(f"{MS} model.layers=[1600,401]", "layer 1 has 401 units"),
    train(f"{IB} data.geometry=shell", "model: the data's blocks have dim_v=4", "dim_v=32"),
    train(f"{IB} model.dim_v=5", "model: ", "dim_v=5"),
    train(f"{IB} model.dim_e=5", "model: ", "dim_e=5"),
    train(f"{MS} data.shape=image", "data.shape=flat", "shape='image'"),
    train(f"{MS} data=ve_pairs", "model: the RBM stack", "VEPairsDataModule"),
    train(f"{MS} model.inputs=binary", "model.inputs='binary'", "model.inputs=spin"),
    train(f"{CF} data.N=60", "model: n_visible=60", "2**n_layers"),
    train(f"{CF} model.n_visible=32", "n_visible=32", "N=64"),
    train(f"{IBC} data.q=3", "model: ", "model.q"),
    train(f"{IBC} model.dim_v=4", "model: ", "dim_v=4"),
    train(f"{IBC} data=ve_pairs", "model: ", "dim_e"),
    train(f"{IBP} model.q=4", "model: ", "q=4"),
    train(f"{IBP} model.q=null", "model: ", "model.q"),
    train(f"{RSMI} data.geometry=slab", "data.geometry='shell'"),
    train(f"{RSMI} model.block=3", "model: ", "block=3"),
    train(f"{RSMI} model.dim_e=10", "model: ", "dim_e=10"),
    train(f"{RSMI} model.q=3", "model: ", "model.q"),
    train(f"{RSMI} data.block=3", "callbacks.rg_measurement", "b=3"),
    # --- the trainer: Lightning accepts these and fails later, or fails with a message naming nothing
    train("trainer=gpu", "trainer.accelerator='gpu'", "trainer=cpu", gpu=True),
    train("trainer=ddp", "trainer.accelerator='gpu'", "trainer=ddp_sim", gpu=True),
    train(f"{MS} trainer=gpu", "trainer.accelerator", gpu=True),
    train("trainer.accelerator=cuda", "trainer.accelerator='cuda'", gpu=True),
    train("trainer.accelerator=tpu", "trainer.accelerator must be one of", "'cpu'"),
    train("trainer.accelerator=banana", "trainer.accelerator must be one of", "'gpu'"),
    train("trainer.devices=0", "trainer.devices must be", ">= 1"),
    train("trainer.devices=two", "trainer.devices must be", "'two'"),
    train("trainer.max_epochs=-5", "trainer.max_epochs must be an integer >= 1", "-1"),
    train("trainer.max_epochs=abc", "trainer.max_epochs must be", "'abc'"),
    train("trainer.max_epochs=0", "trainer.max_epochs must be an integer >= 1", "got 0"),
    train("trainer.max_epochs=1.5", "trainer.max_epochs must be", "1.5"),
    train(f"{MS} trainer.max_epochs=0", "trainer.max_epochs"),
    train(f"{RSMI} trainer.max_epochs=-3", "trainer.max_epochs"),
    train("+trainer.max_steps=-5", "trainer.max_steps must be", "-1"),
    train("+trainer.max_steps=abc", "trainer.max_steps must be"),
    train("+trainer.min_epochs=-1", "trainer.min_epochs must be", ">= 0"),
    train("+trainer.precision=banana", "Precision 'banana' is invalid", "bf16-mixed"),
    train("+trainer.strategy=banana", "strategy='banana'", "ddp_spawn"),
    train("+trainer.strategy=fsdp", "trainer: ", "fsdp"),
    train("trainer.log_every_n_steps=0", "trainer.log_every_n_steps must be an integer >= 1"),
    train("trainer.check_val_every_n_epoch=0", "trainer.check_val_every_n_epoch must be", "null"),
    train("trainer.deterministic=sometimes", "trainer.deterministic must be", "'warn'"),
    train("trainer.enable_checkpointing=maybe", "trainer.enable_checkpointing must be true or false"),
    train("trainer.enable_model_summary=2", "trainer.enable_model_summary must be true or false"),
    train("+trainer.enable_progress_bar=yes", "trainer.enable_progress_bar must be true or false"),
    train("+trainer.gradient_clip_val=-1", "trainer.gradient_clip_val must be a number >= 0"),
    train("+trainer.gradient_clip_algorithm=banana", "gradient_clip_algorithm", "'norm'"),
    train("+trainer.accumulate_grad_batches=0", "trainer.accumulate_grad_batches must be an integer >= 1"),
    train("+trainer.limit_train_batches=-1", "limit_train_batches", "[0.0, 1.0]"),
    train("+trainer.limit_val_batches=2.5", "limit_val_batches", "[0.0, 1.0]"),
    train("+trainer.val_check_interval=0", "trainer.val_check_interval must be", "(0, 1]"),
    train("+trainer.num_nodes=0", "trainer.num_nodes must be an integer >= 1"),
    train("+trainer.max_time=forever", "trainer.max_time must be 'DD:HH:MM:SS'"),
    train("+trainer.fast_dev_run=-1", "trainer.fast_dev_run must be", ">= 0"),
    train("trainer.default_root_dir=5", "trainer.default_root_dir must be a directory path"),
    train("+trainer.callbacks=[]", "trainer.callbacks is set by rgnet-train"),
    train("+trainer.logger=false", "trainer.logger is set by rgnet-train"),
    train("+trainer.max_epoch=3", "trainer: ", "max_epoch"),
    train("trainer.fast_dev_run=true", "To append to your config use +trainer.fast_dev_run=true"),
    train("trainer=tpu", "Could not find 'trainer/tpu'", "Available options in 'trainer'", "ddp_sim"),
    # --- paths: unusable directories fail before Hydra creates anything (/proc passes os.access as root)
    train("paths.output_dir=/proc/rgnet", "output directory /proc/rgnet", "paths.output_dir"),
    train("paths.output_dir=/proc/self/rgnet", "paths.output_dir"),
    train("paths.output_dir=/dev/null/out", "/dev/null is not a directory", "paths.output_dir"),
    train("paths.output_dir=TMP/afile/out", "afile is not a directory", "paths.output_dir"),
    train("paths.root_dir=/proc", "paths.output_dir"),
    train("paths.output_dir=", "paths.output_dir must be a directory path"),
    train("paths.output_dir=null", "paths.output_dir must be a directory path"),
    train("paths.cache_dir=", "paths.cache_dir must be a directory path"),
    train("paths.cache_dir=null", "paths.cache_dir must be a directory path"),
    train(f"{MS} paths.cache_dir=/proc/rgnet", "paths.cache_dir=/proc/rgnet cannot be created"),
    train(f"{RSMI} paths.cache_dir=/dev/null/cache", "paths.cache_dir", "/dev/null is not a directory"),
    train(f"{IB} paths.cache_dir=TMP/afile/cache", "paths.cache_dir", "afile is not a directory"),
    train(f"{RSMIP} paths.cache_dir=/proc/rgnet", "paths.cache_dir"),
    train(f"{MS} callbacks.rg_measurement.cache_dir=/proc/x", "callbacks.rg_measurement.cache_dir=/proc/x"),
    train("paths=cluster", "Could not find 'paths/cluster'", "default"),
    # --- data files: data=ising2d_file without its path, files that are not there or not datasets, a file
    # for a data group that reads none
    train("data=ising2d_file", "data.path is required"),
    train(f"{MS} data=ising2d_file", "data.path is required"),
    train(f"{RSMI} data=ising2d_file", "data.path is required"),
    train(f"{MS} data.path=TMP/missing.npz", "data: dataset file not found", "missing.npz"),
    train(f"{RSMI} data.path=TMP/afile", "afile is not a readable rgnet dataset"),
    train(f"{CF} data.path=TMP/afile", "data.path belongs to data=ising2d, potts2d and ve_pairs"),
    # --- measurements given couplings other than their data's
    train(f"{MS} callbacks.thermodynamics.K=-1", "callbacks.thermodynamics: K=-1.0, but the data were drawn"),
    train(f"{CF} callbacks.coupling_trajectories.K0=-1", "K0=-1.0, but the data were drawn at K=1.0"),
    train(f"{CF} callbacks.coupling_trajectories.h0=0.3", "h0=0.3", "${data.h}"),
    # --- unknown keys, wrong groups
    train("+foo=1", "unknown setting(s) ['foo']", "seed"),
    train("+seeed=3", "unknown setting(s) ['seeed']"),
    train("seeed=3", "+seeed=3"),
    train("data.KK=1", "data.KK"),
    train(f"{MS} model.lrr=0.1", "model.lrr"),
    train(f"{MS} callbacks.blockspin.control=none", "callbacks.blockspin.control"),
    train(f"{MS} data.q=3", "data.q"),
    train(f"{CF} data.L=16", "data.L"),
    train(f"{RSMIP} data.device=cuda", "data.device"),
    train("+data.opts.foo=1", "data: ", "'opts'"),
    train(f"{MS} +data.opts.foo=1", "data: opts ['foo']", "'backend'"),
    train(f"{MS} +data.opts.backend=banana", "opts.backend must be one of", "'numba'"),
    train(f"{MS} +data.opts.start=hot", "opts.start must be one of", "'random'"),
    train(f"{MS} +data.opts.flips_per_sweep=0", "opts.flips_per_sweep must be >= 1"),
    train(f"{MS} data.opts=5", "data: opts must be a mapping"),
    train(f"{RSMIP} +data.opts.backend=torch", "data: opts ['backend']", "'flips_per_sweep'"),
    train(f"{MS} +callbacks.block_spin.foo=1", "callbacks.block_spin", "'foo'"),
    train(f"{CF} +callbacks.coupling_trajectories.foo=1", "callbacks.coupling_trajectories", "'foo'"),
    train("+logger.tensorboard.foo=1", "logger.tensorboard: unknown option(s) ['foo']", "flush_secs"),
    train("+callbacks.bogus._target_=no.such.Class", "callbacks.bogus"),
    train("callbacks.model_checkpoint.foo=1", "callbacks.model_checkpoint.foo"),
    train("experiment=toy", "Could not find 'experiment/toy'", *EXPERIMENTS),
    train("experiment=", "Could not find 'experiment/'", "mehta_schwab"),
    train("model=banana", "Could not find 'model/banana'", "rbm_stack"),
    train("data=ising3d", "Could not find 'data/ising3d'", "ising2d"),
    train("callbacks=all", "Could not find 'callbacks/all'", "none"),
    train("logger=wandb", "Could not find 'logger/wandb'", "tensorboard"),
    train("debug=fast", "Could not find 'debug/fast'", "fast_dev_run"),
    train("hparams_search=optuna", "Could not find 'hparams_search/optuna'", "coupling_flow_1d_optuna"),
    train("sampler=metropolis", "Could not find 'sampler/metropolis'", "checkerboard"),
    train("hydra/launcher=slurm", "Could not find 'hydra/launcher/slurm'", "submitit_slurm"),
    train(f"{MS} model=vib", "model: ", "data.block"),
    train(f"{MS} model=flow_dnn", "model: ", "data.N"),
    train(f"{MS} data=chain1d", "data: ", "'L'"),
    train(f"{MS} data=cylinder_pairs", "data: ", "'method'"),
    train(f"{CF} model=rbm_stack", "model: ", "data.L"),
    train(f"{CF} data=ising2d", "model: ", "data.N"),
    train(f"{IB} model=rsmi", "model: ", "'beta'"),
    train(f"{IB} data=ising2d", "data: the data settings ['block'] belong to (V, E) pairs", "data.path=FILE"),
    # --- top-level settings
    train("seed=-1", "seed must be >= 0"),
    train("seed=abc", "seed must be an integer"),
    train("seed=4294967296", "seed must be <= 4294967295"),
    train("resume=maybe", "resume must be true or false"),
    train("test=1", "test must be true or false"),
    train("threads=0", "threads must be >= 1"),
    train("task_name=a/b", "task_name must be a non-empty name without '/'"),
    train("checkpoint_every_n_steps=-1", "checkpoint_every_n_steps must be >= 1"),
    train("checkpoint_every_n_steps=ten", "checkpoint_every_n_steps must be an integer"),
    train("optimized_metric=[a,b]", "optimized_metric must be null or a metric name"),
    train(f"{MS} optimized_metric=5", "optimized_metric must be null or a metric name"),
    # --- mehta_schwab: model, data, callbacks
    train(f"{MS} model.layers=[1600]", "model: layers must be a list of >= 2"),
    train(f"{MS} model.layers=[1600,400,0]", "model: layers[2] must be >= 1"),
    train(f"{MS} model.units=ternary", "model: units must be one of", "'binary'"),
    train(f"{MS} model.k=0", "model: k must be >= 1"),
    train(f"{MS} model.lr=fast", "model: lr must be a real number"),
    train(f"{MS} model.lr=-0.05", "model: lr must be >= 0"),
    train(f"{MS} model.epochs_per_layer=0", "model: epochs_per_layer must be >= 1"),
    train(f"{MS} model.persistent=yes", "model: persistent must be a bool"),
    train(
        f"{MS} model.final_momentum=0.9", "final_momentum and momentum_switch_epoch must be given together"
    ),
    train(f"{MS} model=rbm_stack_hinton model.momentum_switch_epoch=-1", "momentum_switch_epoch"),
    train(f"{MS} data.shape=square", "data: shape must be one of", "'image'"),
    train(f"{MS} data.K=-0.4", "data: K must be >= 0 for method='wolff'", "method=checkerboard"),
    train(f"{MS} data.K=inf", "data: K must be finite"),
    train(f"{MS} data.K=1e308", "data: K must be <= 100"),
    train(f"{MS} data.h=-1e300", "data: h must be >= -100"),
    train(f"{MS} data.n=1", "val_fraction=0.1 splits n=1"),
    train(f"{MS} data.n=2e4", "data: n must be an integer"),
    train(f"{MS} data.method=metropolis", "data: method must be one of", "'checkerboard'"),
    train(f"{MS} data.method=checkerboard data.L=41", "data: L must be even for method='checkerboard'"),
    train(f"{MS} data.storage=zip", "data: storage must be one of", "'bits'"),
    train(f"{MS} data.device=cuda", "data: device='cuda'", gpu=True),
    train(f"{MS} data.device=gpu", "data: device must be a torch device", "'cuda:0'"),
    train(f"{MS} data.batch_size=0", "data: batch_size must be >= 1"),
    train(f"{MS} data.val_fraction=0", "data: val_fraction must be in (0, 1)"),
    train(f"{MS} data.chains=0", "data: chains must be >= 1"),
    train(f"{MS} callbacks.block_spin.control=random_walk", "callbacks.block_spin: control must be one of"),
    train(f"{MS} callbacks.rg_measurement.L=30", "callbacks.rg_measurement", "L=30"),
    train(f"{MS} callbacks.rg_measurement.method=glauber", "callbacks.rg_measurement: method must be one of"),
    train(f"{MS} callbacks.rg_measurement.reference=minority", "reference must be one of", "'majority'"),
    # --- coupling_flow_1d
    train(f"{CF} data.N=1", "data: N must be >= 3"),
    train(f"{CF} data.K=0", "data: K must be > 0"),
    train("data.K=-1", "rgnet-train: data: K must be > 0"),
    train(f"{CF} data.n=0", "data: n must be >= 2"),
    train(f"{CF} data.periodic=maybe", "data: periodic must be a bool"),
    train(f"{CF} data.val_fraction=2", "data: val_fraction must be <= 1"),
    train(f"{CF} model.n_layers=0", "model: n_layers must be >= 1"),
    train(f"{CF} model.n_layers=10", "model: ", "n_layers=10"),
    train(f"{CF} model.widths=[32,17]", "model: widths[1]=17"),
    train(f"{CF} model.objective=mse", "model: objective must be one of", "'elbo'"),
    train(f"{CF} model.lr=-0.05", "model: lr must be >= 0"),
    train(f"{CF} model.lr_schedule=linear", "model: lr_schedule must be one of", "'cosine'"),
    train(f"{CF} callbacks.coupling_trajectories.method=mle", "callbacks.coupling_trajectories: method"),
    # --- the IB experiments
    train(f"{IB} data.geometry=ring", "data: geometry must be one of", "'shell'"),
    train(f"{IB} model.dim_h=0", "model: dim_h must be >= 1"),
    train(f"{IB} model.beta=-1", "model: beta must be >= 0"),
    train(f"{IB} model.encoder=cnn", "model: encoder must be one of", "'mlp'"),
    train(f"{IB} model.symmetry=z2_even", "symmetry='z2_even' needs encoder='mlp'"),
    train(f"{IB} model.bound=mine", "model: bound must be one of", "'infonce'"),
    train(f"{IB} data.block=0", "data: block must be >= 1"),
    train(f"{IB} data.block=20", "data: slab geometry does not fit"),
    train(f"{IB} data.buffer=-1", "data: buffer must be >= 0"),
    train(f"{IB} data.q=3", "data: storage must be 'int8'"),
    train(f"{IB} data.K=-0.3", "data: K must be >= 0 for method='wolff'"),
    train(f"{IB} callbacks.ib_relevance.max_blocks=0", "callbacks.ib_relevance: max_blocks must be >= 2"),
    train(f"{IBC} data.L=1", "data: circumference must be >= 2"),
    train(f"{IBC} data.L=20", "data: circumference must be <= 12"),
    train(f"{IBC} data.h=nan", "data: h must be finite"),
    train("experiment=ib_relevance_cylinder_even model.encoder=linear", "needs encoder='mlp'"),
    train("experiment=ib_relevance_cylinder_even model.symmetry=sq_invariant", "symmetry='sq_invariant'"),
    train(f"{IBP} data.q=1", "data.q must be >= 2"),
    train(f"{IBP} data.q=9", "data: ", "MAX_POTTS_CYLINDER_STATES"),
    train(f"{IBP} data.h=0.5", "data: h=0.5", "data.h: 0.0"),
    train(f"{IBP} data.L=12", "data: L=12", "MAX_POTTS_CYLINDER_STATES"),
    train("experiment=ib_relevance_potts_invariant model.encoder=linear", "needs encoder='mlp'"),
    train("experiment=ib_relevance_potts_invariant model.symmetry=z2_even", "'sq_invariant'"),
    # --- RSMI
    train(f"{RSMI} model.n_hidden=0", "model: n_hidden must be >= 1"),
    train(f"{RSMI} model.relaxation=gumbel", "model: relaxation must be one of", "'concrete'"),
    train(f"{RSMI} model.tau=0", "model: tau must be > 0"),
    train(f"{RSMI} data.q=3", "data: storage must be 'int8'"),
    train(f"{RSMI} data.method=heatbath data.L=31", "data: L must be even for method='heatbath'"),
    train(f"{RSMI} callbacks.rg_measurement.L=48", "callbacks.rg_measurement", "L=48"),
    train(f"{RSMI} callbacks.rg_measurement.starts=[0.01]", "callbacks.rg_measurement: starts must be"),
    train(f"{RSMI} callbacks.rg_measurement.fractions=[0.7]", "callbacks.rg_measurement: fractions"),
    train(f"{RSMI} callbacks.rg_measurement.reference=plurality", "reference must be 'majority' or 'none'"),
    train(f"{RSMIP} data.q=1", "data.q must be >= 2"),
    train(f"{RSMIP} data.storage=bits", "data: storage must be 'int8'"),
    train(f"{RSMIP} data.method=checkerboard", "data: method must be one of", "'heatbath'"),
    train(f"{RSMIP} callbacks.rg_measurement.reference=majority", "reference must be 'plurality' or 'none'"),
    train(f"{RSMIP} callbacks.rg_measurement.matching=true", "callbacks.rg_measurement", "matching=false"),
    # --- rgnet-sample
    sample("data.K=1e308", "data.K must be <= 100"),
    sample("data.h=1e308", "data.h must be <= 100"),
    sample("data.h=-inf", "data.h must be finite"),
    sample("data.K=nan", "data.K must be finite"),
    sample("data.L=1", "data.L must be >= 2"),
    sample("data.n=0", "data.n must be >= 1"),
    sample("data.method=glauber", "data.method must be one of", "'checkerboard'"),
    sample("data.method=heatbath data.L=7", "data.L must be even"),
    sample("threads=two", "threads must be an integer"),
    sample("data.K=0.44 data.h=-1e300", "data.h must be >= -100"),
    sample("data.K=hot", "data.K must be a real number"),
    sample("data.K=-0.3", "data.K must be >= 0 for method='wolff'"),
    sample("data.L=0", "data.L must be >= 2"),
    sample("data.L=1e9", "data.L must be an integer"),
    sample("data.n=1", "data.n must be >= 2"),
    sample("data.n=-5", "data.n must be >= 1"),
    sample("data.chains=0", "data.chains must be >= 1"),
    sample("data.storage=zip", "data.storage must be one of", "'int8'"),
    sample("data.method=banana", "data.method must be one of", "'swendsen_wang'"),
    sample("data.method=checkerboard data.L=5", "data.L must be even"),
    sample("data.device=cuda", "data.device='cuda'", gpu=True),
    sample("data.device=tpu", "data.device must be a torch device"),
    sample("data.seed=-1", "data.seed must be >= 0"),
    sample("data.seed=null", "data.seed must be an integer"),
    sample("+data.opts.foo=1", "data.opts ['foo'] are not options of method='wolff'", "'backend'"),
    sample("+data.opts.backend=banana", "data.opts.backend must be one of", "'torch'"),
    sample("data.opts=1", "data.opts must be a mapping"),
    sample("+data.colour=1", "data.colour"),
    sample("data.opts.backend=torch", "+data.opts.backend=torch"),
    sample("data=potts2d data.q=1", "data.q must be >= 2"),
    sample("data=potts2d data.q=200", "data.q must be <= 127"),
    sample("data=potts2d data.method=checkerboard", "data.method must be one of", "'heatbath'"),
    sample("data=potts2d data.storage=bits", "data.storage must be 'int8'"),
    sample("data=potts2d data.K=-1", "data.K must be >= 0 for the Potts samplers"),
    sample("data=potts2d data.K=1e308", "data.K must be <= 100"),
    sample("data=potts2d +data.opts.backend=torch", "data.opts ['backend']", "'max_sweeps'"),
    sample("data=chain1d", "data: rgnet-sample makes the 2D datasets", "data=potts2d"),
    sample("data=ve_pairs", "data: rgnet-sample makes the 2D datasets", "VEPairsDataModule"),
    sample("data=ising2d_file", "data.path: rgnet-sample generates a dataset", "rgnet-train"),
    sample("data.path=/tmp/x.npz", "data.path: rgnet-sample generates a dataset", "data.path null"),
    sample("data=no_such_data", "Could not find 'data/no_such_data'", "ising2d", "potts2d"),
    sample("progress=maybe", "progress must be true or false"),
    sample("overwrite_corrupt=yes", "overwrite_corrupt must be true or false"),
    sample("threads=0", "threads must be >= 1"),
    sample("paths.cache_dir=/proc/rgnet", "paths.cache_dir=/proc/rgnet cannot be created or written"),
    sample("paths.cache_dir=/dev/null/cache", "paths.cache_dir", "/dev/null is not a directory"),
    sample("paths.cache_dir=TMP/afile/cache", "paths.cache_dir", "afile is not a directory"),
    sample("paths.cache_dir=", "paths.cache_dir must be a directory path"),
    sample("paths.output_dir=/proc/rgnet", "paths.output_dir=/proc/rgnet cannot be created or written"),
    sample("paths.output_dir=TMP/afile/out", "paths.output_dir", "afile is not a directory"),
    sample("paths.output_dir=", "paths.output_dir must be a directory path"),
    sample("+trainer.max_epochs=3", "unknown setting(s) ['trainer'] of rgnet-sample", "'data'"),
    sample("experiment=mehta_schwab", "Could not override 'experiment'"),
    sample("foo=1", "+foo=1"),
    # --- rgnet-report
    report("TMP/nothing", "sweep directory not found", "nothing"),
    report("", "the following arguments are required: sweep_dir"),
    report("TMP --bogus", "unrecognized arguments: --bogus"),
    report("TMP", "no summary.json below"),
    report("TMP/afile", "sweep directory not found", "afile"),
    report("TMP --out /proc/rgnet", "--out=/proc/rgnet cannot be created or written"),
    report("TMP --out TMP/afile/out", "--out", "afile is not a directory"),
    report("TMP --out", "--out: expected one argument"),
    report("-m TMP", "unrecognized arguments: -m"),
    report("TMP TMP", "unrecognized arguments"),
    # --- rgnet-bench
    bench("device=cuda", "device='cuda'", gpu=True),
    bench("device=tpu", "device must be a torch device", "'cuda:0'"),
    bench("neighbours.jobs=2", "neighbours.jobs must be a list"),
    bench("neighbours.jobs=[0]", "neighbours.jobs must be >= 1"),
    bench("neighbours.wait_policies=[LAZY]", "neighbours.wait_policies must be one of", "'PASSIVE'"),
    bench("neighbours.threads=-1", "neighbours.threads must be >= 0"),
    bench("sizes=[[8]]", "sizes[0] must be [L, chains]"),
    bench("sizes=[8,4]", "sizes[0] must be [L, chains]"),
    bench("sizes=8", "sizes must be a list"),
    bench("sizes=[[8,0]]", "sizes[0].chains must be >= 1"),
    bench("methods=[glauber]", "methods must be one of", "'wolff'"),
    bench("methods=wolff", "methods must be a list", "methods=[...]"),
    bench("K=-1", "K must be >= 0"),
    bench("K=nan", "K must be finite"),
    bench("K=1e308", "K must be <= 100"),
    bench("min_seconds=-1", "min_seconds must be >= 0"),
    bench("independent.L=1", "independent.L must be >= 2"),
    bench("rbm.layers=[[10]]", "rbm.layers[0] must be [n_visible, n_hidden]"),
    bench("rbm.ks=[0]", "rbm.ks must be >= 1"),
    bench("rbm.ks=1", "rbm.ks must be a list"),
    bench("mcrg.n=-1", "mcrg.n must be >= 0"),
    bench("mcrg.L=50", "mcrg.L=50 must be divisible"),
    bench("potts.q=[1]", "potts.q must be >= 2"),
    bench("potts.q=3", "potts.q must be a list"),
    bench("potts.L=63", "potts.L must be even for heatbath"),
    bench("potts.methods=[checkerboard]", "potts.methods must be one of", "'swendsen_wang'"),
    bench("potts.cylinder_circumferences=[1]", "potts.cylinder_circumferences[0] must be >= 2"),
    bench("potts.cylinder_circumferences=[30]", "potts.cylinder_circumferences[0]", "MAX_POTTS_CYLINDER"),
    bench("gpu_kernels=true", "gpu_kernels=true needs device=cuda"),
    bench("gpu_kernels=maybe", "gpu_kernels must be true or false"),
    bench("paths.output_dir=/proc/rgnet", "paths.output_dir=/proc/rgnet cannot be created or written"),
    bench("paths.output_dir=TMP/afile/out", "paths.output_dir", "afile is not a directory"),
    bench("foo=1", "+foo=1"),
    bench("sizess=[[8,2]]", "To append to your config use +sizess"),
]

MAINS = {
    "train": rgnet.cli.train.main,
    "sample": rgnet.cli.sample.main,
    "bench": rgnet.cli.bench.main,
}


def snapshot(root: Path) -> dict[str, int]:
    """Every path under ``root`` with its modification time."""
    return {str(p.relative_to(root)): p.lstat().st_mtime_ns for p in root.rglob("*")}


@pytest.fixture
def work(tmp_path, monkeypatch) -> Path:
    """The case's working directory (the current directory and RGNET_ROOT), holding ``afile``; work is
    forbidden (training, dataset generation, benchmarks)."""
    (tmp_path / "afile").write_text("a file where a directory is expected\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RGNET_ROOT", str(tmp_path))

    def forbidden(*args, **kwargs):
        raise AssertionError("a refused command started work")

    monkeypatch.setattr(training, "_train", forbidden)
    monkeypatch.setattr(sampling, "get_or_create_dataset", forbidden)
    monkeypatch.setattr(benchmark, "run", forbidden)
    # the entry points set good-neighbour variables for the process they run in: restored afterwards (the
    # thread pools they size are restored by tests/conftest.py for every test)
    for key in GOOD_NEIGHBOUR_ENV:
        monkeypatch.delenv(key, raising=False)
    return tmp_path


def run_in_process(command: str, args: list[str], monkeypatch, capfd) -> tuple[int, str, str]:
    """Exit status, stdout and stderr of ``rgnet-<command> <args>`` run by its console entry point."""
    monkeypatch.setattr(sys, "argv", [f"rgnet-{command}", *args])
    status: object = 0
    message = ""
    try:
        status = rgnet.cli.report.main(args) if command == "report" else MAINS[command]()
    except SystemExit as exit_:
        status = exit_.code
        if isinstance(status, str):  # what the interpreter does with SystemExit("message")
            message, status = status + "\n", 1
    out, err = capfd.readouterr()
    return (0 if status is None else int(status)), out, err + message


@pytest.mark.parametrize(("command", "args", "expected"), CASES)
def test_a_bad_command_fails_naming_the_setting_and_leaves_nothing(
    work, monkeypatch, capfd, command, args, expected
):
    args = [arg.replace("TMP", str(work)) for arg in args]
    before = snapshot(work)
    status, out, err = run_in_process(command, args, monkeypatch, capfd)
    assert status != 0, f"accepted: {out}{err}"
    assert "Traceback" not in out + err, err
    assert "GPU available" not in out + err, err  # the check builds the Trainer quietly: the error alone
    for text in expected:
        assert text in err, f"{text!r} not in the message:\n{err}"
    assert err.startswith((f"rgnet-{command}: ", "usage: ")), err
    assert snapshot(work) == before


#: The experiments of conf/experiment/ when the table was written: each has cases of its own.
COVERED = (
    "coupling_flow_1d",
    "ib_relevance",
    "ib_relevance_cylinder",
    "ib_relevance_cylinder_even",
    "ib_relevance_potts",
    "ib_relevance_potts_invariant",
    "mehta_schwab",
    "rsmi",
    "rsmi_potts",
)


def test_the_table_is_long_and_covers_every_experiment():
    assert len(CASES) >= 150
    assert len({p.id for p in CASES}) == len(CASES)  # distinct commands
    named = {arg.split("=", 1)[1] for p in CASES for arg in p.values[1] if arg.startswith("experiment=")}
    assert set(COVERED) <= named and set(COVERED) <= set(EXPERIMENTS)


@pytest.mark.parametrize(
    ("module", "args", "expected", "status"),
    [
        ("train", ["trainer.max_epochs=abc"], "trainer.max_epochs must be", 1),
        ("sample", ["data.K=1e308"], "data.K must be <= 100", 1),
        ("report", ["no_such_sweep"], "sweep directory not found", 2),
    ],
    ids=["train", "sample", "report"],
)
def test_the_real_commands_fail_the_same_way(tmp_path, module, args, expected, status):
    """A few of the table's cases through the console scripts' modules in a fresh interpreter."""
    before = snapshot(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", f"rgnet.cli.{module}", *args],
        cwd=tmp_path,
        env={**os.environ, "RGNET_ROOT": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == status, result.stderr
    assert f"rgnet-{module}: " in result.stderr and expected in result.stderr, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert snapshot(tmp_path) == before
