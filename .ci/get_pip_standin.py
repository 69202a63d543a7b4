"""Offline stand-in for get-pip.py, served to ansible-test from its cache.

ansible-test bootstraps pip into each virtual environment it creates by running
get-pip.py, which it downloads from a host this machine cannot reach.  This
script does the same job with what Python ships: ensurepip puts the bundled pip
into the running interpreter (the new virtual environment), then that pip
installs the release ansible-test asked for from the configured package index.
.ci/ansible-test copies it to ~/.ansible/test/cache/get_pip_<version>.py.
"""

import subprocess
import sys

# get-pip.py options that pip itself does not know.
GET_PIP_ONLY = {'--no-setuptools': 'setuptools', '--no-wheel': 'wheel'}


def main():
    args = sys.argv[1:]
    unwanted = [GET_PIP_ONLY[arg] for arg in args if arg in GET_PIP_ONLY]
    pip_args = [arg for arg in args if arg not in GET_PIP_ONLY]
    python = sys.executable

    subprocess.run([python, '-m', 'ensurepip', '--upgrade', '--default-pip'],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run([python, '-m', 'pip', 'install', '--quiet', *pip_args], check=True)
    if unwanted:
        # ensurepip brings setuptools along on Python < 3.12; get-pip would not.
        subprocess.run([python, '-m', 'pip', 'uninstall', '-qq', '--yes', *unwanted], check=True)


if __name__ == '__main__':
    main()
