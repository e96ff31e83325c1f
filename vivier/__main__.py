from vivier.cli import main

main()
