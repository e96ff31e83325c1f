from vivier_cli.main import main

main()
