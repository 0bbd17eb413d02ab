from setuptools import setup
from torch.utils.cpp_extension import BuildExtension, CUDAExtension

setup(ext_modules=[CUDAExtension("flash_attn_2_cuda", ["csrc/flash_api.cpp"])], cmdclass={"build_ext": BuildExtension})
